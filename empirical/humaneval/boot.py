"""Trusted bootstrap of the HumanEval sandbox (never imported; standard library only).

``sandbox.py`` starts it in fresh mount, network, PID, IPC (and, for mode
``userns``, user) namespaces with a fresh ``/proc``::

    unshare [--user --map-root-user] --mount --net --pid --ipc --fork --kill-child
            --mount-proc --propagation private python -I boot.py SPEC_JSON

It is the PID namespace's init: code in the namespace cannot signal it, and when
it exits the kernel kills every process left inside. It then

1. bind-mounts the work directory onto itself and remounts every other mount
   read-only *in this mount namespace only* (the host's mounts are untouched),
   so no file outside the work directory can be created, written or deleted,
   whoever owns it (world-writable /tmp and /dev/shm included);
2. sets the resource limits (CPU seconds, address space, file size, no core
   files);
3. drops privileges. Mode ``full`` (started as real root): switch to an
   otherwise unused uid/gid with no supplementary groups and RLIMIT_NPROC =
   ``max_procs`` + 1 (the kernel ignores RLIMIT_NPROC for root and counts it
   per uid, so a fresh uid counts only this sandbox, this process included).
   Mode ``userns`` (started by an unprivileged user, who is "root" only inside
   its own user namespace): the forked child enters a second, nested user
   namespace in which it is the caller's own uid and gid instead of root, so
   it keeps no capability after ``execve`` and cannot undo step 1 (a further
   user namespace it might create copies the mounts *locked* read-only), then
   sets RLIMIT_NPROC = ``max_procs`` (since Linux 5.14 counted per user
   namespace, so only this sandbox's processes count);
4. in the child: sets ``no_new_privs`` (set-uid binaries give nothing), installs
   a seccomp filter refusing AF_UNIX sockets and io_uring when the parent
   passed the syscall numbers of this architecture (a socket file on the host,
   e.g. a tmux, ssh-agent or D-Bus socket of the same user, is not protected by
   the read-only mounts nor by the network namespace), and ``execve``\\ s a
   fresh ``python -I`` running ``runner.py`` (copied into the work folder as
   ``sandbox_runner.py``) with a clean environment (HOME and TMPDIR inside the
   work directory); the init waits for it and exits with its status (128 +
   signal number if it was killed).

Any failure before the program runs exits with status 70 (fail closed) and one
line on stderr.
"""

import ctypes
import errno
import json
import os
import resource
import sys
from typing import NoReturn

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
_FLAG_OPTIONS = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC}
# Kernel pseudo-filesystems: not remounted (device nodes and /proc are needed).
_SKIP_PREFIXES = ("/proc", "/sys", "/dev/pts")
_SKIP_EXACT = ("/dev",)
CLONE_NEWUSER = 0x10000000
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
# Classic BPF opcodes and seccomp return values (linux/filter.h, linux/seccomp.h).
_LD_ABS, _JEQ, _JGE, _RET = 0x20, 0x15, 0x35, 0x06
_ALLOW, _ERRNO, _KILL = 0x7FFF0000, 0x00050000, 0x80000000
_AF_UNIX, _X32_BIT = 1, 0x40000000
FAIL = 70
_LIBC = ctypes.CDLL(None, use_errno=True)
_LIBC.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]


class _SockFilter(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_ushort),
        ("jt", ctypes.c_ubyte),
        ("jf", ctypes.c_ubyte),
        ("k", ctypes.c_uint),
    ]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def _check(ret: int, what: str) -> None:
    """Raise OSError(errno) for a failed libc call (non-zero return)."""
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _unescape(field: str) -> str:
    """A path field of /proc/self/mounts, octal escapes undone."""
    return field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def _readonly_except(workdir: str) -> None:
    """Step 1: the work directory stays writable, every other mount becomes read-only."""

    def do(source: str, target: str, flags: int) -> None:
        _check(_LIBC.mount(source.encode(), target.encode(), None, flags, None), f"mount {target}")

    do("none", "/", MS_REC | MS_PRIVATE)
    do(workdir, workdir, MS_BIND)
    with open("/proc/self/mounts", encoding="utf-8") as fh:
        entries = [line.split() for line in fh]
    done = set()
    for _, target, _, options, *_ in entries:
        target = _unescape(target)
        if target == workdir or target in done or target in _SKIP_EXACT:
            continue
        if any(target == p or target.startswith(p + "/") for p in _SKIP_PREFIXES):
            continue
        extra = 0
        for opt in options.split(","):
            extra |= _FLAG_OPTIONS.get(opt, 0)
        try:
            do("none", target, MS_REMOUNT | MS_BIND | MS_RDONLY | extra)
        except OSError as exc:
            # A mount point this process cannot even look up (e.g. under another
            # user's 0700 folder, or gone) is out of reach of the less privileged
            # program as well; anything else fails closed.
            if exc.errno not in (errno.EACCES, errno.ENOENT):
                raise
        done.add(target)


def _limits(spec: dict) -> None:
    """Step 2: CPU seconds, address space, file size, no core files."""
    cpu = int(spec["cpu_s"])
    mem = int(spec["memory_mb"]) * 1024 * 1024
    fsize = int(spec["fsize_mb"]) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _drop_to_fresh_uid(spec: dict) -> None:
    """Mode full: become the unused uid/gid; +1 process for this bootstrap itself."""
    resource.setrlimit(resource.RLIMIT_NPROC, (int(spec["max_procs"]) + 1,) * 2)
    os.setgroups([])
    os.setgid(spec["gid"])
    os.setuid(spec["uid"])


def _enter_nested_userns(spec: dict) -> None:
    """Mode userns: a user namespace in which this process is the caller's uid/gid
    (mapped onto the outer namespace's root, i.e. the same real ids), not root."""
    _check(_LIBC.unshare(CLONE_NEWUSER), "unshare(CLONE_NEWUSER)")
    for name, text in (
        ("setgroups", "deny"),
        ("uid_map", f"{spec['uid']} 0 1"),
        ("gid_map", f"{spec['gid']} 0 1"),
    ):
        with open(f"/proc/self/{name}", "w", encoding="ascii") as fh:
            fh.write(text)
    resource.setrlimit(resource.RLIMIT_NPROC, (int(spec["max_procs"]),) * 2)


def _seccomp(numbers: dict) -> None:
    """Refuse socket(AF_UNIX, ...) and io_uring_setup with EPERM; kill on a foreign
    syscall ABI (e.g. 32-bit calls from a 64-bit process) or x32 numbers."""
    eperm = _ERRNO | errno.EPERM

    def op(code: int, k: int, jt: int = 0, jf: int = 0) -> _SockFilter:
        return _SockFilter(code, jt, jf, k)

    program = [
        op(_LD_ABS, 4),  # 0: arch
        op(_JEQ, numbers["arch"], 0, 8),  # 1: foreign ABI -> 10 (kill)
        op(_LD_ABS, 0),  # 2: syscall number
        op(_JGE, _X32_BIT, 6, 0),  # 3: x32 -> 10 (kill)
        op(_JEQ, numbers["io_uring_setup"], 4, 0),  # 4: -> 9 (EPERM)
        op(_JEQ, numbers["socket"], 0, 2),  # 5: socket -> 6, else -> 8 (allow)
        op(_LD_ABS, 16),  # 6: args[0] (family), low 32 bits
        op(_JEQ, _AF_UNIX, 1, 0),  # 7: AF_UNIX -> 9 (EPERM)
        op(_RET, _ALLOW),  # 8
        op(_RET, eperm),  # 9
        op(_RET, _KILL),  # 10
    ]
    filters = (_SockFilter * len(program))(*program)
    prog = _SockFprog(len(program), filters)
    _check(_LIBC.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0), "seccomp")


def _interpreter(candidates: list) -> str:
    """First candidate the unprivileged user can execute, with a readable folder."""
    for path in candidates:
        real = os.path.realpath(path)
        if os.access(real, os.X_OK) and os.access(os.path.dirname(real), os.R_OK | os.X_OK):
            return path
    raise OSError("no Python interpreter is executable by the sandbox user")


def _fail(exc: OSError) -> NoReturn:
    """Report a bootstrap failure in one line and exit with status 70."""
    print(f"sandbox bootstrap failed: {exc}", file=sys.stderr)
    sys.stderr.flush()
    os._exit(FAIL)


def main() -> None:
    """Steps 1-4 (see the module docstring)."""
    spec = json.loads(sys.argv[1])
    workdir = spec["workdir"]
    try:
        _readonly_except(workdir)
        _limits(spec)
        if spec["mode"] == "full":
            _drop_to_fresh_uid(spec)
        python = _interpreter(spec["interpreters"])
        os.chdir(workdir)
    except OSError as exc:
        _fail(exc)
    env = {
        "HOME": workdir,
        "TMPDIR": workdir,
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
    }
    runner = os.path.join(workdir, "sandbox_runner.py")
    argv = [python, "-I", runner, workdir, "1" if spec["audit_guard"] else "0"]
    child = os.fork()
    if child == 0:
        try:
            if spec["mode"] == "userns":
                _enter_nested_userns(spec)
            _check(_LIBC.prctl(PR_SET_NO_NEW_PRIVS, 1, None, 0, 0), "no_new_privs")
            if spec["seccomp"] is not None:
                _seccomp(spec["seccomp"])
            os.execve(python, argv, env)
        except OSError as exc:
            _fail(exc)
        finally:
            os._exit(FAIL)
    _, status = os.waitpid(child, 0)
    os._exit(os.waitstatus_to_exitcode(status) % 256 if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))


if __name__ == "__main__":
    main()
