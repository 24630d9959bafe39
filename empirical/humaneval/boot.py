"""Trusted bootstrap of the HumanEval sandbox (run as root, never imported).

``sandbox.py`` starts it as
``unshare --mount --net --pid --fork --kill-child --propagation private
python -I boot.py SPEC_JSON``: it already runs in fresh mount, network
and PID namespaces. It then

1. bind-mounts the work directory onto itself and remounts every other mount
   read-only *in this mount namespace only* (the host's mounts are untouched),
   so no file outside the work directory can be created, written or deleted,
   whoever owns it (world-writable /tmp and /dev/shm included);
2. sets the resource limits (CPU seconds, address space, file size, no core
   files, and RLIMIT_NPROC);
3. drops to an otherwise unused uid/gid, with no supplementary groups, so
   RLIMIT_NPROC is enforced (the kernel ignores it for root) and counts only
   this sandbox's processes;
4. forks and ``execve``\\ s a fresh ``python -I`` running ``runner.py`` (copied into the
   work folder as ``sandbox_runner.py``)
   with a clean environment (HOME and TMPDIR inside the work directory), waits
   for it and exits with its status (128 + signal number if it was killed).

Any failure of steps 1-3 exits with status 70 before user code runs (fail
closed). Standard library only.
"""

import ctypes
import json
import os
import resource
import sys

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
_FLAG_OPTIONS = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC}
# Kernel pseudo-filesystems: not remounted (device nodes and /proc are needed).
_SKIP_PREFIXES = ("/proc", "/sys", "/dev/pts")
_SKIP_EXACT = ("/dev",)
FAIL = 70


def _mount(libc, source, target, flags):
    if libc.mount(source.encode(), target.encode(), None, flags, None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


def _unescape(field):
    return field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def _readonly_except(workdir):
    libc = ctypes.CDLL(None, use_errno=True)
    _mount(libc, "none", "/", MS_REC | MS_PRIVATE)
    _mount(libc, workdir, workdir, MS_BIND)
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
        _mount(libc, "none", target, MS_REMOUNT | MS_BIND | MS_RDONLY | extra)
        done.add(target)


def _limits(spec):
    cpu = int(spec["cpu_s"])
    mem = int(spec["memory_mb"]) * 1024 * 1024
    fsize = int(spec["fsize_mb"]) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # +1: this bootstrap process itself runs as the same uid.
    resource.setrlimit(resource.RLIMIT_NPROC, (int(spec["max_procs"]) + 1,) * 2)


def _interpreter(candidates):
    """First candidate the unprivileged user can execute, with a readable folder."""
    for path in candidates:
        real = os.path.realpath(path)
        if os.access(real, os.X_OK) and os.access(os.path.dirname(real), os.R_OK | os.X_OK):
            return path
    raise OSError("no Python interpreter is executable by the sandbox user")


def main():
    spec = json.loads(sys.argv[1])
    workdir = spec["workdir"]
    try:
        if spec["readonly_fs"]:
            _readonly_except(workdir)
        _limits(spec)
        if spec["uid"] is not None:
            os.setgroups([])
            os.setgid(spec["gid"])
            os.setuid(spec["uid"])
        python = _interpreter(spec["interpreters"])
        os.chdir(workdir)
    except OSError as exc:
        print(f"sandbox bootstrap failed: {exc}", file=sys.stderr)
        sys.stderr.flush()
        os._exit(FAIL)
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
            os.execve(python, argv, env)
        finally:
            os._exit(FAIL)
    # This process is the PID namespace's init: code in the namespace cannot
    # signal it, and when it exits the kernel kills every process left inside.
    _, status = os.waitpid(child, 0)
    os._exit(os.waitstatus_to_exitcode(status) % 256 if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))


if __name__ == "__main__":
    main()
