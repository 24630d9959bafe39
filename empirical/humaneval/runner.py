"""Trusted runner executed INSIDE the sandbox (never imported by steerbounds).

``python -I sandbox_runner.py WORKDIR GUARD`` (this file, copied into WORKDIR) reads ``WORKDIR/program.py``,
optionally installs an audit-hook guard (PEP 578) that refuses network, process
creation, ``ctypes`` and any filesystem write outside ``WORKDIR``, executes the
program and writes ``WORKDIR/result.json``:
``{"outcome": "passed"|"failed"|"violation", "reason": str}``.

The guard is defence in depth only: in-process hooks can be bypassed by native
code, which is why the parent also drops privileges, unshares the network and
mounts everything but ``WORKDIR`` read-only (see ``sandbox.py``). This file
uses the standard library only: it may run under a different interpreter.
"""

import json
import os
import sys

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

# Audit events refused outright (https://docs.python.org/3/library/audit_events.html).
_FORBIDDEN = frozenset(
    {
        "socket.__new__",
        "socket.connect",
        "socket.bind",
        "socket.sendto",
        "socket.getaddrinfo",
        "socket.gethostbyname",
        "socket.gethostbyaddr",
        "os.fork",
        "os.forkpty",
        "os.system",
        "os.exec",
        "os.spawn",
        "os.posix_spawn",
        "subprocess.Popen",
        "os.kill",
        "os.killpg",
        "pty.spawn",
        "ctypes.dlopen",
        "ctypes.dlsym",
        "ctypes.cdata",
        "ctypes.call_function",
        "sys.setprofile",
        "sys.settrace",
        "sys.addaudithook",
    }
)
# Audit events whose path arguments must stay inside the work directory.
_PATH_EVENTS = {
    "os.remove": (0,),
    "os.rmdir": (0,),
    "os.rename": (0, 1),
    "os.mkdir": (0,),
    "os.chmod": (0,),
    "os.chown": (0,),
    "os.link": (0, 1),
    "os.symlink": (1,),
    "os.truncate": (0,),
    "os.utime": (0,),
    "shutil.rmtree": (0,),
    "os.chdir": (0,),
    "os.chflags": (0,),
    "os.lchflags": (0,),
    "os.setxattr": (0,),
    "os.removexattr": (0,),
}


class SandboxViolation(RuntimeError):
    """Raised by the audit hook when the program attempts a refused operation."""


def _install_guard(workdir, violations):
    root = os.path.realpath(workdir)

    def inside(path):
        if isinstance(path, int):  # an already-open descriptor
            return True
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        full = os.path.realpath(os.path.join(root, os.fspath(path)))
        return full == root or full.startswith(root + os.sep) or full == os.devnull

    def refuse(event, args):
        message = f"{event}{tuple(args)!r}"[:300]
        violations.append(message)
        raise SandboxViolation(f"sandbox refused {message}")

    def hook(event, args):
        if event in _FORBIDDEN:
            refuse(event, args)
        elif event == "open":
            path, mode, flags = args
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & _WRITE_FLAGS
            )
            if writing and path is not None and not inside(path):
                refuse(event, args)
        elif event in _PATH_EVENTS:
            for i in _PATH_EVENTS[event]:
                if i < len(args) and args[i] is not None and not inside(args[i]):
                    refuse(event, args)

    sys.addaudithook(hook)


def main():
    workdir, guard = sys.argv[1], sys.argv[2] == "1"
    with open(os.path.join(workdir, "program.py"), encoding="utf-8") as fh:
        source = fh.read()
    result_path = os.path.join(workdir, "result.json")
    violations: list[str] = []
    if guard:
        _install_guard(workdir, violations)
    try:
        code = compile(source, "program.py", "exec")
        exec(code, {"__name__": "__main__", "__builtins__": __builtins__})
        outcome, reason = "passed", ""
    except BaseException as exc:  # the program's failure is the datum we record
        outcome, reason = "failed", f"{type(exc).__name__}: {exc}"[:500]
    if violations:
        outcome, reason = "violation", "; ".join(violations)[:500]
    sys.stdout.flush()
    with open(result_path, "w", encoding="utf-8") as fh:
        json.dump({"outcome": outcome, "reason": reason}, fh)


if __name__ == "__main__":
    main()
