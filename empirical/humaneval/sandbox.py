"""Sandbox for executing model-written HumanEval code (paper App. G).

Untrusted code never runs in the calling process: every program runs in a
fresh ``python -I`` interpreter in its own process tree, with

* a wall-clock timeout (the whole process tree is killed) and RLIMIT_CPU;
* RLIMIT_AS (address space, ``memory_mb``), RLIMIT_FSIZE and no core files;
* its own temporary work directory (cwd, HOME and TMPDIR point into it);
* an in-process audit-hook guard (PEP 578) refusing sockets, process creation,
  ``ctypes`` and writes outside the work directory (defence in depth only:
  native code can bypass it).

Three isolation modes add the OS-level containment (``isolation=``; ``"auto"``
picks the strongest available and records why in the result):

* ``"full"`` (root with util-linux ``unshare``): fresh mount, network, PID and
  IPC namespaces with a fresh ``/proc``; every mount but the work directory
  read-only; the program drops to an otherwise unused uid so RLIMIT_NPROC
  counts only this sandbox (the kernel does not enforce it for root);
* ``"userns"`` (an unprivileged user, where the kernel allows unprivileged user
  namespaces, Linux >= 5.14): the same namespaces inside a user namespace
  (``unshare --user --map-root-user``); the program runs in a nested user
  namespace as the caller's own uid without capabilities, so it cannot undo
  the read-only mounts, and RLIMIT_NPROC counts per user namespace, i.e. only
  this sandbox's processes;
* ``"rlimits"``: rlimits, the process-group kill and the audit guard only;
  RLIMIT_NPROC then counts all of the user's processes.

In both namespace modes the program runs with ``no_new_privs`` and, on x86_64
and aarch64, a seccomp filter refusing AF_UNIX sockets (a host socket file is
reachable through read-only mounts and from another network namespace) and
io_uring. :attr:`SandboxResult.isolation` lists the mechanisms that were active,
:attr:`SandboxResult.isolation_mode` the mode and
:attr:`SandboxResult.isolation_note` why ``"auto"`` fell back to ``"rlimits"``.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import json
import math
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypedDict

from steerbounds.errors import InputError, check_int

if TYPE_CHECKING:  # typing_extensions' Unpack: typing has it from Python 3.11 only
    from typing_extensions import Unpack

Status = Literal["passed", "failed", "timeout", "error"]
STATUSES: tuple[str, ...] = ("passed", "failed", "timeout", "error")
Mode = Literal["full", "userns", "rlimits"]
ISOLATIONS: tuple[str, ...] = ("auto", "full", "userns", "rlimits")

_HERE = Path(__file__).resolve().parent
_RUNNER = _HERE / "runner.py"
_BOOT = _HERE / "boot.py"
_DATA = _HERE.parent / "workloads" / "data" / "humaneval.jsonl.gz"
_BOOT_FAIL = 70
# Ephemeral uids: far above any real account, one per run.
_UID_BASE, _UID_SPAN = 2_000_000_000, 100_000_000
_TAIL = 2000
# RLIMIT_NPROC is counted per user namespace since Linux 5.14 (ucounts).
_USERNS_KERNEL = (5, 14)
# For boot.py's seccomp filter: AUDIT_ARCH_* and syscall numbers per ``uname -m``.
_SECCOMP = {
    "x86_64": {"arch": 0xC000003E, "socket": 41, "io_uring_setup": 425},
    "aarch64": {"arch": 0xC00000B7, "socket": 198, "io_uring_setup": 425},
}
_PROBE_LOCK = threading.Lock()


@dataclass(frozen=True)
class SandboxResult:
    """Outcome of one program.

    status: ``passed`` (ran to the end, every assertion held), ``failed`` (the
    program raised: wrong answer, exception, MemoryError under the limit),
    ``timeout`` (wall-clock or CPU limit), ``error`` (the sandbox refused an
    operation, the process died without a result, or the sandbox failed to
    start). ``reason`` is one line; ``stderr_tail`` the last 2000 characters.
    ``isolation`` lists the active mechanisms, ``isolation_mode`` is ``full``,
    ``userns`` or ``rlimits``, ``isolation_note`` says why ``isolation="auto"``
    fell back to ``rlimits`` (empty otherwise).
    """

    task_id: str
    status: Status
    reason: str
    stderr_tail: str
    stdout_tail: str
    wall_s: float
    returncode: int | None
    isolation: tuple[str, ...] = field(default=())
    isolation_mode: Mode = "rlimits"
    isolation_note: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_dict(self) -> dict:
        out = asdict(self)
        out["isolation"] = list(self.isolation)
        return out


def _check_positive(name: str, value: float, *, upper: float) -> None:
    if not isinstance(value, (int, float)) or math.isnan(value) or not 0 < value <= upper:
        raise InputError(f"{name} must be a number in (0, {upper:g}], got {value!r}")


class LimitOptions(TypedDict, total=False):
    """The keyword form of :class:`Limits`, taken by :func:`run_program` and the
    HumanEval runners (``**limits``)."""

    timeout_s: float
    memory_mb: int
    max_procs: int
    fsize_mb: int
    cpu_s: float | None


@dataclass(frozen=True)
class Limits:
    """The resource limits of one sandboxed program, checked when built.

    ``timeout_s``: wall-clock limit of the whole process tree, (0, 3600] s;
    ``memory_mb``: RLIMIT_AS per process, [64, 65536] MiB; ``max_procs``: processes the
    program may hold, itself included, [2, 4096]; ``fsize_mb``: RLIMIT_FSIZE, the
    largest file it may write, [1, 65536] MiB; ``cpu_s``: RLIMIT_CPU per process,
    (0, 3600] s (None: ``timeout_s``)."""

    timeout_s: float = 10.0
    memory_mb: int = 512
    max_procs: int = 8
    fsize_mb: int = 16
    cpu_s: float | None = None

    def __post_init__(self) -> None:
        _check_positive("timeout_s", self.timeout_s, upper=3600)
        check_int("memory_mb", self.memory_mb, 64, 65536)
        check_int("max_procs", self.max_procs, 2, 4096)
        check_int("fsize_mb", self.fsize_mb, 1, 65536)
        if self.cpu_s is not None:
            _check_positive("cpu_s", self.cpu_s, upper=3600)

    @property
    def cpu_seconds(self) -> int:
        """The whole seconds RLIMIT_CPU is set to (at least 1)."""
        return max(1, math.ceil(self.timeout_s if self.cpu_s is None else self.cpu_s))


def _check_isolation(isolation: str) -> None:
    """Raise :class:`InputError` unless ``isolation`` names a mode or ``"auto"``."""
    if isolation not in ISOLATIONS:
        raise InputError(f"isolation must be one of {', '.join(map(repr, ISOLATIONS))}, got {isolation!r}")


def full_isolation_available() -> bool:
    """True when running as root with util-linux ``unshare`` on PATH."""
    return hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("unshare") is not None


def _kernel_version() -> tuple[int, int]:
    """(major, minor) of the running Linux kernel; (0, 0) if unparsable."""
    match = re.match(r"(\d+)\.(\d+)", os.uname().release)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


@functools.cache
def _probe_userns() -> tuple[bool, str]:
    """The uncached probe behind :func:`userns_isolation_status`."""
    if os.geteuid() == 0:
        return False, "running as root: RLIMIT_NPROC is not enforced for root, use isolation 'full'"
    if shutil.which("unshare") is None:
        return False, "util-linux unshare not found on PATH"
    if _kernel_version() < _USERNS_KERNEL:
        return False, (
            f"Linux {os.uname().release} counts RLIMIT_NPROC per user, not per user namespace "
            f"(needs {_USERNS_KERNEL[0]}.{_USERNS_KERNEL[1]})"
        )
    result = _execute(
        "pass",
        mode="userns",
        note="",
        task_id="userns-probe",
        limits=Limits(timeout_s=30.0, max_procs=4, fsize_mb=1),
        audit_guard=True,
    )
    if result.status == "passed":
        return True, ""
    lines = [line.strip() for line in result.stderr_tail.splitlines() if line.strip()]
    return False, f"probe failed: {lines[-1] if lines else result.reason}"


def userns_isolation_status() -> tuple[bool, str]:
    """Whether isolation ``"userns"`` works here, and if not why (one line).

    Probed once per process (a trivial program run through the whole userns
    sandbox; the kernel may forbid unprivileged user namespaces, e.g.
    ``kernel.unprivileged_userns_clone=0``, ``user.max_user_namespaces=0`` or
    AppArmor's ``kernel.apparmor_restrict_unprivileged_userns=1``); the result is
    cached."""
    with _PROBE_LOCK:
        return _probe_userns()


def resolve_isolation(isolation: str = "auto") -> tuple[Mode, str]:
    """The mode :func:`run_program` uses for ``isolation`` and, when ``"auto"``
    falls back to ``"rlimits"``, why (else ``""``).

    ``"auto"``: ``full`` as root with ``unshare``, else ``userns`` when
    :func:`userns_isolation_status` allows it, else ``rlimits`` with a
    :class:`RuntimeWarning`. An explicit mode that cannot run raises
    :class:`InputError`."""
    _check_isolation(isolation)
    if isolation == "rlimits":
        return "rlimits", ""
    if isolation == "full":
        if not full_isolation_available():
            raise InputError("isolation='full' needs root and util-linux unshare; use 'userns' or 'auto'")
        return "full", ""
    if isolation == "userns":
        available, why = userns_isolation_status()
        if not available:
            raise InputError(f"isolation='userns' is not available: {why}")
        return "userns", ""
    if full_isolation_available():
        return "full", ""
    if os.geteuid() == 0:
        note = "full isolation needs util-linux unshare on PATH"
    else:
        available, why = userns_isolation_status()
        if available:
            return "userns", ""
        note = f"unprivileged user namespaces unavailable: {why}"
    warnings.warn(
        f"HumanEval sandbox runs with rlimits and the audit guard only ({note}); "
        "native code could reach the network and write outside its folder",
        RuntimeWarning,
        stacklevel=2,
    )
    return "rlimits", note


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 4 * _TAIL))
            return fh.read().decode("utf-8", "replace")[-_TAIL:]
    except OSError:
        return ""


def _user_process_count(uid: int) -> int:
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    count += 1
            except OSError:
                continue
    return count


def _kill_uid(uid: int) -> None:
    """Kill every process of the ephemeral uid (kill(-1) as that uid)."""
    setpriv = shutil.which("setpriv")
    if setpriv is None or _user_process_count(uid) == 0:
        return
    subprocess.run(
        [setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "kill", "-KILL", "-1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=10,
        check=False,
    )


def _kill_tree(proc: subprocess.Popen) -> None:
    """Kill the sandbox: first its direct children (the PID namespace's init, so
    ``unshare`` can reap it and the namespace dies), then the process group."""
    try:
        with open(f"/proc/{proc.pid}/task/{proc.pid}/children", encoding="ascii") as fh:
            children = [int(pid) for pid in fh.read().split()]
    except OSError:
        children = []
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def run_program(
    program: str,
    *,
    task_id: str = "program",
    audit_guard: bool = True,
    isolation: str = "auto",
    **limits: Unpack[LimitOptions],
) -> SandboxResult:
    """Run ``program`` (Python source) in the sandbox and classify the outcome.

    isolation: ``"full"`` (namespaces + uid switch + read-only mounts; needs
    root), ``"userns"`` (the same namespaces and read-only mounts inside an
    unprivileged user namespace), ``"rlimits"`` (rlimits, process-group kill and
    audit guard only), or ``"auto"`` (see :func:`resolve_isolation`). ``limits``:
    the fields of :class:`Limits` (``timeout_s``, ``memory_mb``, ``max_procs``,
    ``fsize_mb``, ``cpu_s``), its defaults where not given. Never raises for anything
    the program does; raises :class:`InputError` for bad limits or an explicit mode
    that cannot run here.
    """
    checked = Limits(**limits)
    _check_isolation(isolation)
    mode, note = resolve_isolation(isolation)
    if mode == "rlimits" and os.geteuid() == 0 and not audit_guard:
        raise InputError(
            "audit_guard=False with isolation='rlimits' as root would run without any process "
            "limit (the kernel does not enforce RLIMIT_NPROC for root); use isolation='full'"
        )
    return _execute(
        program,
        mode=mode,
        note=note,
        task_id=task_id,
        limits=checked,
        audit_guard=audit_guard,
    )


def _namespaced_command(
    mode: Mode, workdir: Path, limits: dict[str, int], audit_guard: bool, mechanisms: list[str]
) -> tuple[list[str], int | None]:
    """The ``unshare ... boot.py SPEC`` command of mode ``full`` or ``userns`` and the
    ephemeral uid of mode ``full`` (``None`` for ``userns``); appends the mechanisms."""
    seccomp = _SECCOMP.get(os.uname().machine)
    if mode == "full":
        uid = gid = _UID_BASE + secrets.randbelow(_UID_SPAN)
        os.chown(workdir, uid, gid)
        os.chmod(workdir, 0o700)
        user_flags: list[str] = []
        mechanisms += [f"uid={uid}", "rlimit_nproc"]
    else:
        uid, gid = os.getuid(), os.getgid()
        user_flags = ["--user", "--map-root-user"]
        mechanisms += ["userns", "nested_userns(own uid, no capabilities)", "rlimit_nproc(per-userns)"]
    mechanisms += ["netns", "pidns", "procfs(pidns)", "ipcns", "mountns_readonly", "no_new_privs"]
    if seccomp is not None:
        mechanisms.append("seccomp(no AF_UNIX socket, no io_uring)")
    spec = {
        "mode": mode,
        "workdir": str(workdir),
        "uid": uid,
        "gid": gid,
        **limits,
        "interpreters": [sys.executable, "/usr/bin/python3", shutil.which("python3") or sys.executable],
        "audit_guard": audit_guard,
        "seccomp": seccomp,
    }
    cmd = [
        shutil.which("unshare") or "unshare",
        *user_flags,
        "--mount",
        "--net",
        "--pid",
        "--ipc",
        "--fork",
        "--kill-child",
        "--mount-proc",
        "--propagation",
        "private",
        sys.executable,
        "-I",
        str(_BOOT),
        json.dumps(spec),
    ]
    return cmd, (uid if mode == "full" else None)


def _execute(
    program: str,
    *,
    mode: Mode,
    note: str,
    task_id: str,
    limits: Limits,
    audit_guard: bool,
) -> SandboxResult:
    """Run ``program`` in the resolved ``mode`` (arguments already validated)."""
    logdir = Path(tempfile.mkdtemp(prefix="steerbounds-sbx-log-"))
    workdir = Path(tempfile.mkdtemp(prefix="steerbounds-sbx-"))
    mechanisms = ["subprocess", "python -I", "rlimit_cpu", "rlimit_as", "rlimit_fsize", "workdir"]
    uid: int | None = None
    try:
        (workdir / "program.py").write_text(program, encoding="utf-8")
        shutil.copyfile(_RUNNER, workdir / "sandbox_runner.py")
        preexec: Callable[[], None] | None = None
        if mode != "rlimits":
            spec = {
                "cpu_s": limits.cpu_seconds,
                "memory_mb": limits.memory_mb,
                "fsize_mb": limits.fsize_mb,
                "max_procs": limits.max_procs,
            }
            cmd, uid = _namespaced_command(mode, workdir, spec, audit_guard, mechanisms)
        else:
            nproc = _user_process_count(os.getuid()) + limits.max_procs
            preexec = functools.partial(
                _set_rlimits, limits.cpu_seconds, limits.memory_mb, limits.fsize_mb, nproc
            )
            cmd = [
                sys.executable,
                "-I",
                str(workdir / "sandbox_runner.py"),
                str(workdir),
                "1" if audit_guard else "0",
            ]
            mechanisms += ["rlimit_nproc(per-user)"]
        if audit_guard:
            mechanisms.append("audit_guard")
        env = {
            "HOME": str(workdir),
            "TMPDIR": str(workdir),
            "PATH": "/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        start = time.monotonic()
        timed_out = False
        with open(logdir / "stdout", "wb") as out, open(logdir / "stderr", "wb") as err:
            proc = subprocess.Popen(
                cmd,
                cwd=workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
                preexec_fn=preexec,
                close_fds=True,
            )
            try:
                proc.wait(timeout=limits.timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_tree(proc)
        wall = time.monotonic() - start
        if uid is not None:
            _kill_uid(uid)
        stderr_tail, stdout_tail = _tail(logdir / "stderr"), _tail(logdir / "stdout")
        status, reason = _classify(workdir / "result.json", proc.returncode, timed_out, limits.timeout_s)
        return SandboxResult(
            task_id,
            status,
            reason,
            stderr_tail,
            stdout_tail,
            round(wall, 3),
            proc.returncode,
            tuple(mechanisms),
            mode,
            note,
        )
    except OSError as exc:  # the sandbox itself could not run
        return SandboxResult(
            task_id, "error", f"sandbox failure: {exc}", "", "", 0.0, None, tuple(mechanisms), mode, note
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(logdir, ignore_errors=True)


def _set_rlimits(cpu: int, memory_mb: int, fsize_mb: int, nproc: int) -> None:
    """Mode rlimits: the limits, set in the child before ``exec``."""
    import resource

    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize_mb << 20, fsize_mb << 20))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))


def _classify(result_path: Path, returncode: int, timed_out: bool, timeout_s: float) -> tuple[Status, str]:
    if timed_out:
        return "timeout", f"wall-clock limit of {timeout_s:g} s exceeded"
    try:
        result = json.loads(result_path.read_text(encoding="utf-8"))
        outcome, reason = str(result["outcome"]), str(result["reason"])
    except (OSError, ValueError, KeyError, TypeError):
        outcome, reason = "", ""
    if outcome == "passed" and returncode == 0:
        return "passed", ""
    if outcome == "failed":
        return "failed", reason
    if outcome == "violation":
        return "error", f"sandbox violation: {reason}"
    if returncode in (-signal.SIGXCPU, 128 + signal.SIGXCPU):
        return "timeout", "CPU-time limit exceeded (SIGXCPU)"
    if returncode in (-signal.SIGKILL, 128 + signal.SIGKILL):
        return "timeout", "killed by SIGKILL (CPU hard limit or kill)"
    if returncode == _BOOT_FAIL:
        return "error", "sandbox bootstrap failed"
    if returncode in (-signal.SIGXFSZ, 128 + signal.SIGXFSZ):
        return "error", "file-size limit exceeded (SIGXFSZ)"
    return "error", f"exited with status {returncode} without a result"


def humaneval_program(problem: Mapping[str, str], completion: str) -> str:
    """The HumanEval check program: prompt + completion + test + ``check(entry_point)``
    (the layout of the official ``human-eval`` harness)."""
    for key in ("prompt", "test", "entry_point"):
        if key not in problem:
            raise InputError(f"problem must have key {key!r} (HumanEval format)")
    return (
        problem["prompt"]
        + completion
        + "\n\n"
        + problem["test"]
        + "\n\n"
        + f"check({problem['entry_point']})\n"
    )


def run_humaneval_problem(
    problem: Mapping[str, str],
    completion: str,
    *,
    audit_guard: bool = True,
    isolation: str = "auto",
    **limits: Unpack[LimitOptions],
) -> SandboxResult:
    """Execute one HumanEval problem's tests against ``completion`` in the sandbox
    (:func:`run_program`: the same ``audit_guard``, ``isolation`` and ``limits``)."""
    return run_program(
        humaneval_program(problem, completion),
        task_id=str(problem.get("task_id", "program")),
        audit_guard=audit_guard,
        isolation=isolation,
        **limits,
    )


def evaluate_humaneval(
    problems: Sequence[Mapping[str, str]],
    completions: Sequence[str] | Mapping[str, str],
    *,
    workers: int = 1,
    audit_guard: bool = True,
    isolation: str = "auto",
    **limits: Unpack[LimitOptions],
) -> list[SandboxResult]:
    """Run every problem; one result per problem, in order. A hostile or broken
    program only affects its own result. ``completions`` is a sequence aligned
    with ``problems`` or a mapping task_id -> completion; ``audit_guard``,
    ``isolation`` and ``limits`` as in :func:`run_program` (checked before any
    program runs)."""
    if isinstance(completions, Mapping):
        missing = [p["task_id"] for p in problems if p["task_id"] not in completions]
        if missing:
            raise InputError(f"completions lacks task_ids {missing[:5]}")
        pairs = [(p, completions[p["task_id"]]) for p in problems]
    else:
        if len(completions) != len(problems):
            raise InputError(
                f"completions must have one entry per problem ({len(problems)}), got {len(completions)}"
            )
        pairs = list(zip(problems, completions, strict=True))
    check_int("workers", workers, 1, 64)
    Limits(**limits)
    _check_isolation(isolation)

    def one(pair: tuple[Mapping[str, str], str]) -> SandboxResult:
        return run_humaneval_problem(
            pair[0],
            pair[1],
            audit_guard=audit_guard,
            isolation=isolation,
            **limits,
        )

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, pairs))


def pass_rate(results: Iterable[SandboxResult]) -> float:
    """pass@1 with one greedy completion per problem: the fraction passed."""
    results = list(results)
    if not results:
        raise InputError("results must be non-empty")
    return sum(r.passed for r in results) / len(results)


def load_humaneval(path: str | os.PathLike | None = None) -> list[dict]:
    """HumanEval problems (Chen et al. 2021, MIT, OpenAI) from the shipped copy
    ``empirical/workloads/data/humaneval.jsonl.gz`` or ``path`` (.jsonl or .jsonl.gz)."""
    source = Path(path) if path is not None else _DATA
    opener = gzip.open if source.suffix == ".gz" else open
    try:
        with opener(source, "rt", encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]
    except OSError as exc:
        raise InputError(f"path: cannot read HumanEval data {source}: {exc}") from exc
