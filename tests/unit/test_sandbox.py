"""The HumanEval sandbox contains hostile programs (steerbounds.empirical.humaneval.sandbox).

The hostile suite (:data:`CHECKS`) runs with ``audit_guard=False``, so that the
OS-level mechanism (rlimits, namespaces, read-only mounts, the uid or user
namespace, seccomp) is what stops each program, in two contexts:

* ``caller``: in this process, with ``isolation="auto"`` — ``full`` as root
  (CI), ``userns`` for an unprivileged caller;
* ``new_user``: as a throwaway unprivileged user created for the test
  (``useradd``, root only), through a copy of the sandbox package readable by
  that user, where ``auto`` must choose ``userns``.

Every check looks at both sides: what the program saw (the errno, which tells
*which* mechanism refused it) and the host afterwards (the listener got no
connection, the files are intact, the victim process lives, no process of the
sandbox remains). As the unprivileged user, the same programs run once more with
``isolation="rlimits"`` as a control: there they do reach the listeners, the
files and the victim, so the checks would catch missing isolation. A few tests
run with the guard on, for the in-process layer.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import steerbounds
import steerbounds.empirical
import steerbounds.errors
from steerbounds.empirical.humaneval import sandbox
from steerbounds.empirical.humaneval.sandbox import (
    evaluate_humaneval,
    humaneval_program,
    load_humaneval,
    pass_rate,
    resolve_isolation,
    run_humaneval_problem,
    run_program,
    userns_isolation_status,
)
from steerbounds.errors import InputError

IS_ROOT = os.geteuid() == 0
CONTEXTS = ("caller", "new_user")
CANONICAL = (0, 2, 53)  # HumanEval problems whose reference solutions must pass in every mode
MS_BIND, MS_REMOUNT, CLONE_NEWNS, CLONE_NEWUSER = 4096, 32, 0x20000, 0x10000000


@pytest.fixture(scope="module")
def problems() -> list[dict]:
    return load_humaneval()


def _namespaced() -> None:
    """Skip unless this caller gets a namespace mode (``full`` or ``userns``)."""
    mode, note = resolve_isolation("auto")
    if mode == "rlimits":
        pytest.skip(f"no namespace isolation for this user: {note}")


# ---------------------------------------------------------------------------
# The hostile suite: programs, the host-side targets they go after, the checks
# ---------------------------------------------------------------------------

_PRELUDE = (
    "import ctypes, json, os, socket, sys, time\n"
    "print('WORKDIR', os.getcwd(), flush=True)\n"
    "def attempt(action):\n"
    "    try:\n"
    "        action()\n"
    "        return 0\n"
    "    except OSError as exc:\n"
    "        return exc.errno\n"
)
_LOOP = "while True:\n    pass\n"
_FORK_BOMB = "while True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
# Children leave the process group (setsid) and sleep: the process-group kill
# misses them; the PID namespace (and, as root, killing the ephemeral uid) does not.
_FORK_COUNT = (
    "n = 0\n"
    "for _ in range(100):\n"
    "    try:\n"
    "        pid = os.fork()\n"
    "    except OSError:\n"
    "        break\n"
    "    if pid == 0:\n"
    "        os.setsid()\n"
    "        time.sleep(60)\n"
    "        os._exit(0)\n"
    "    n += 1\n"
    "print(json.dumps({'forked': n}))\n"
)
_BENIGN = (
    "import tempfile\n"
    "cwd = os.getcwd()\n"
    "assert os.environ['HOME'] == cwd and os.environ['TMPDIR'] == cwd\n"
    "assert tempfile.gettempdir() == cwd\n"
    "with open('scratch.txt', 'w') as fh:\n"
    "    fh.write('ok')\n"
    "assert open('scratch.txt').read() == 'ok'\n"
    "caps = [line.split()[1] for line in open('/proc/self/status') if line.startswith('CapEff')][0]\n"
    "print(json.dumps({'uid': os.getuid(), 'caps': caps}))\n"
)


def _mount_point(path: Path) -> str:
    path = path.resolve()
    while not os.path.ismount(path):
        path = path.parent
    return str(path)


class Host:
    """What a hostile program goes after outside the sandbox, owned by ``uid``
    (the user the sandbox runs for): a TCP listener on 127.0.0.1, a Unix socket
    anyone may connect to, a world-writable folder with a world-writable
    sentinel, a file in the user's own folder, and a process of the user."""

    def __init__(self, base: Path, uid: int, gid: int) -> None:
        base.mkdir(exist_ok=True)
        base.chmod(0o755)
        self.open_dir = base / "open"
        self.open_dir.mkdir()
        self.open_dir.chmod(0o777)  # writable by anyone: only the read-only mount protects it
        self.sentinel = self.open_dir / "sentinel.txt"
        self.sentinel.write_text("keep")
        self.sentinel.chmod(0o666)
        self.own_dir = base / "own"
        self.own_dir.mkdir()
        self.private = self.own_dir / "private.txt"
        self.private.write_text("keep")
        for path in (self.own_dir, self.private):
            os.chown(path, uid, gid)
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen(4)
        self.unix_path = self.open_dir / "listener.sock"
        self.unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.unix.bind(str(self.unix_path))
        self.unix_path.chmod(0o666)
        self.unix.listen(4)
        as_user = {"user": uid, "group": gid, "extra_groups": []} if uid != os.getuid() else {}
        self.victim = subprocess.Popen(["sleep", "300"], **as_user)

    def cases(self) -> dict[str, dict]:
        """name -> run_program keyword arguments (audit guard off)."""
        port, victim = self.tcp.getsockname()[1], self.victim.pid
        new_open, new_own = str(self.open_dir / "new.txt"), str(self.own_dir / "new.txt")
        sentinel, private = str(self.sentinel), str(self.private)
        hostile = {
            "loop": ({"timeout_s": 1.5}, _LOOP),
            "cpu": ({"timeout_s": 60, "cpu_s": 1}, _LOOP),
            "fork_bomb": ({"timeout_s": 2, "max_procs": 16}, _FORK_BOMB),
            "fork_count": ({"timeout_s": 20, "max_procs": 6}, _FORK_COUNT),
            "memory": ({"memory_mb": 256}, "x = bytearray(4 * 1024 ** 3)\nprint('allocated')\n"),
            "tcp": (
                {},
                f"s = socket.socket()\ns.settimeout(2)\n"
                f"print(json.dumps({{'connect': attempt(lambda: s.connect(('127.0.0.1', {port})))}}))\n",
            ),
            "unix": (
                {},
                f"connect = lambda: socket.socket(socket.AF_UNIX).connect({str(self.unix_path)!r})\n"
                "print(json.dumps({'connect': attempt(connect)}))\n",
            ),
            "write": (
                {},
                "print(json.dumps({\n"
                f"    'remove_sentinel': attempt(lambda: os.remove({sentinel!r})),\n"
                f"    'append_sentinel': attempt(lambda: open({sentinel!r}, 'a').write('x')),\n"
                f"    'remove_private': attempt(lambda: os.remove({private!r})),\n"
                f"    'create_open': attempt(lambda: open({new_open!r}, 'w').write('x')),\n"
                "}))\n",
            ),
            # Undo the read-only mounts: remount rw directly, or from a fresh user and
            # mount namespace of its own (where it would be root), then write.
            "remount": (
                {},
                "libc = ctypes.CDLL(None, use_errno=True)\n"
                "def call(ret):\n"
                "    return 0 if ret == 0 else ctypes.get_errno()\n"
                f"target = {_mount_point(self.own_dir).encode()!r}\n"
                "uid, gid = os.getuid(), os.getgid()\n"
                f"flags = {MS_REMOUNT | MS_BIND}\n"
                "obs = {'remount': call(libc.mount(b'none', target, None, flags, None))}\n"
                f"obs['unshare'] = call(libc.unshare({CLONE_NEWUSER | CLONE_NEWNS}))\n"
                "if obs['unshare'] == 0:\n"
                "    for name, text in (('setgroups', 'deny'), ('uid_map', f'0 {uid} 1'),\n"
                "                       ('gid_map', f'0 {gid} 1')):\n"
                "        open(f'/proc/self/{name}', 'w').write(text)\n"
                "    obs['nested_remount'] = call(libc.mount(b'none', target, None, flags, None))\n"
                f"obs['create_own'] = attempt(lambda: open({new_own!r}, 'w').write('x'))\n"
                "print(json.dumps(obs))\n",
            ),
            "signal": (
                {},
                "pids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\n"
                f"print(json.dumps({{'kill': attempt(lambda: os.kill({victim}, 9)), 'pids': pids,\n"
                f"                  'visible': os.path.exists('/proc/{victim}')}}))\n",
            ),
            "benign": ({}, _BENIGN),
        }
        return {name: {**kwargs, "program": _PRELUDE + body} for name, (kwargs, body) in hostile.items()}

    def observe(self) -> dict:
        """The host side after the programs ran."""
        accepted = {}
        for name, listener in (("tcp", self.tcp), ("unix", self.unix)):
            listener.setblocking(False)
            try:
                listener.accept()[0].close()
                accepted[name] = True
            except BlockingIOError:
                accepted[name] = False
        return {
            "accepted": accepted,
            "sentinel": self.sentinel.read_text() if self.sentinel.exists() else None,
            "private": self.private.read_text() if self.private.exists() else None,
            "created": [p.name for p in (self.open_dir / "new.txt", self.own_dir / "new.txt") if p.exists()],
            "victim_alive": self.victim.poll() is None,
        }

    def close(self) -> None:
        self.tcp.close()
        self.unix.close()
        with contextlib.suppress(ProcessLookupError):
            self.victim.kill()
        self.victim.wait()


def _processes_in(workdir: str) -> list[int]:
    """Host pids whose command line names the sandbox's work folder (the runner
    and anything it forked)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    if workdir.encode() in fh.read():
                        found.append(int(entry))
            except OSError:
                continue
    return found


@dataclass
class Suite:
    """The hostile suite's outcome in one context: the result of each case (as
    ``SandboxResult.to_dict()``), the host afterwards, and the sandbox processes
    still alive per case."""

    results: dict[str, dict]
    host: dict
    survivors: dict[str, list[int]]


def _observe_suite(results: dict[str, dict], host: Host) -> Suite:
    survivors = {}
    for name, result in results.items():
        lines = [ln for ln in result["stdout_tail"].splitlines() if ln.startswith("WORKDIR ")]
        survivors[name] = _processes_in(lines[0].split(" ", 1)[1]) if lines else []
    return Suite(results, host.observe(), survivors)


def _observations(result: dict) -> dict:
    """The JSON the program printed last."""
    lines = [ln for ln in result["stdout_tail"].splitlines() if ln.startswith("{")]
    assert lines, (result["status"], result["reason"], result["stderr_tail"])
    return json.loads(lines[-1])


def _contained(result: dict) -> None:
    """Common to every case: a namespace mode ran, without the audit guard."""
    assert result["isolation_mode"] in ("full", "userns"), result["isolation"]
    assert "netns" in result["isolation"] and "pidns" in result["isolation"]
    assert "audit_guard" not in result["isolation"]


def _check_loop(r: dict, s: Suite) -> None:
    assert r["status"] == "timeout" and "wall-clock" in r["reason"]


def _check_cpu(r: dict, s: Suite) -> None:
    assert r["status"] == "timeout" and "CPU" in r["reason"], r["reason"]
    assert r["wall_s"] < 30


def _check_fork_bomb(r: dict, s: Suite) -> None:
    assert r["status"] == "timeout", r["reason"]
    assert s.survivors["fork_bomb"] == []


def _check_fork_count(r: dict, s: Suite) -> None:
    assert r["status"] == "passed", (r["reason"], r["stderr_tail"])
    assert _observations(r) == {"forked": 5}  # max_procs=6 counts the program itself
    assert r["wall_s"] < 20  # the sleeping children did not keep the sandbox alive
    assert s.survivors["fork_count"] == []


def _check_memory(r: dict, s: Suite) -> None:
    assert r["status"] == "failed" and "MemoryError" in r["reason"]
    assert "allocated" not in r["stdout_tail"]


def _check_tcp(r: dict, s: Suite) -> None:
    # ENETUNREACH: the network namespace's loopback is down (not a refused port).
    assert _observations(r) == {"connect": errno.ENETUNREACH}
    assert s.host["accepted"]["tcp"] is False


def _check_unix(r: dict, s: Suite) -> None:
    if not any(m.startswith("seccomp") for m in r["isolation"]):
        pytest.skip(f"no seccomp filter for {os.uname().machine}")
    assert _observations(r) == {"connect": errno.EPERM}  # socket(AF_UNIX) refused by seccomp
    assert s.host["accepted"]["unix"] is False


def _check_write(r: dict, s: Suite) -> None:
    # EROFS for each: the read-only mount refused it, not file permissions.
    assert set(_observations(r).values()) == {errno.EROFS}, _observations(r)
    assert s.host["sentinel"] == "keep" and s.host["private"] == "keep"
    assert s.host["created"] == []


def _check_remount(r: dict, s: Suite) -> None:
    obs = _observations(r)
    assert obs["remount"] == errno.EPERM  # no capability over the sandbox's mounts
    if obs["unshare"] == 0:  # a user namespace of its own copies the mounts locked read-only
        assert obs["nested_remount"] == errno.EPERM
    assert obs["create_own"] == errno.EROFS
    assert s.host["created"] == []


def _check_signal(r: dict, s: Suite) -> None:
    obs = _observations(r)
    assert obs == {"kill": errno.ESRCH, "pids": [1, 2], "visible": False}  # only init and itself
    assert s.host["victim_alive"] is True


def _check_benign(r: dict, s: Suite) -> None:
    assert r["status"] == "passed", (r["reason"], r["stderr_tail"])
    obs = _observations(r)
    assert obs["uid"] != 0 and int(obs["caps"], 16) == 0


CHECKS: dict[str, Callable[[dict, Suite], None]] = {
    "loop": _check_loop,
    "cpu": _check_cpu,
    "fork_bomb": _check_fork_bomb,
    "fork_count": _check_fork_count,
    "memory": _check_memory,
    "tcp": _check_tcp,
    "unix": _check_unix,
    "write": _check_write,
    "remount": _check_remount,
    "signal": _check_signal,
    "benign": _check_benign,
}
# In mode rlimits these reach their target: the control that the checks detect escapes.
CONTROL_CASES = ("tcp", "unix", "write", "signal")


@pytest.fixture(scope="module")
def suite_caller() -> Iterator[Suite]:
    _namespaced()
    base = Path(tempfile.mkdtemp(prefix="sbx-host-"))
    host = Host(base, os.getuid(), os.getgid())
    try:
        results = {
            name: run_program(**kwargs, audit_guard=False).to_dict() for name, kwargs in host.cases().items()
        }
        yield _observe_suite(results, host)
    finally:
        host.close()
        shutil.rmtree(base, ignore_errors=True)


# ---------------------------------------------------------------------------
# The unprivileged user
# ---------------------------------------------------------------------------

_DRIVER = """\
import json, sys, warnings
sys.path.insert(0, sys.argv[1])
from steerbounds.empirical.humaneval.sandbox import resolve_isolation, run_program
from steerbounds.errors import InputError

spec = json.loads(sys.stdin.read())
out = {"resolve": {}, "phases": {}}
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    for isolation in ("auto", "userns"):
        try:
            out["resolve"][isolation] = list(resolve_isolation(isolation))
        except InputError as exc:
            out["resolve"][isolation] = ["InputError", str(exc)]
    for phase, (isolation, cases) in spec.items():
        out["phases"][phase] = {
            name: run_program(**kwargs, isolation=isolation, audit_guard=False).to_dict()
            for name, kwargs in cases.items()
        }
out["warnings"] = [str(w.message) for w in caught]
print(json.dumps(out))
"""


@dataclass
class NewUser:
    """A throwaway account and a folder it can read, holding a copy of the sandbox
    package and the driver that runs cases as that account."""

    name: str
    uid: int
    gid: int
    base: Path
    python: str

    def drive(self, spec: dict, *, path: str = "/usr/bin:/bin", deny_userns: bool = False) -> dict:
        """Run the driver as the user (phase -> (isolation, cases)); its JSON output.

        deny_userns: inside a user namespace of its own whose
        ``user.max_user_namespaces`` is 0 (capabilities dropped before the
        driver starts), as on a kernel that forbids unprivileged user namespaces."""
        env = {"PATH": path, "HOME": str(self.base), "LANG": "C.UTF-8"}
        setpriv = shutil.which("setpriv") or "setpriv"
        driver = [self.python, str(self.base / "driver.py"), str(self.base / "pkg")]
        if deny_userns:
            deny = "echo 0 > /proc/sys/user/max_user_namespaces && exec {} --inh-caps=-all "
            deny += '--ambient-caps=-all --bounding-set=-all "$@"'
            unshare = [shutil.which("unshare") or "unshare", "--user", f"--map-user={self.uid}"]
            unshare += [f"--map-group={self.gid}", "--keep-caps", "/bin/sh", "-c", deny.format(setpriv), "sh"]
            driver = unshare + driver
        cmd = [setpriv, f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups", *driver]
        out = subprocess.run(
            cmd, input=json.dumps(spec), capture_output=True, text=True, env=env, cwd=self.base, timeout=300
        )
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)


def _package_copy(dest: Path) -> None:
    """The sandbox modules and the package __init__ files they import, world-readable."""
    humaneval = Path(sandbox.__file__).parent
    files = {
        Path(steerbounds.__file__): "steerbounds/__init__.py",
        Path(steerbounds.errors.__file__): "steerbounds/errors.py",
        Path(steerbounds.empirical.__file__): "steerbounds/empirical/__init__.py",
    }
    for name in ("__init__.py", "sandbox.py", "boot.py", "runner.py"):
        files[humaneval / name] = f"steerbounds/empirical/humaneval/{name}"
    for source, rel in files.items():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest / rel)


def _add_user(name: str) -> None:
    """useradd, retried while another process holds the account database lock."""
    for _ in range(10):
        done = subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
             "--shell", "/usr/sbin/nologin", name],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode == 0:
            return
        time.sleep(0.5)
    pytest.fail(f"useradd {name} failed: {done.stderr.strip()}")


def _usable_python(uid: int, gid: int) -> str | None:
    """A Python >= 3.10 the user can run (the test's own may sit in root's home);
    ``test -x`` on the resolved path, as the user, checks every folder on the way."""
    as_user = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups"]
    for python in (sys.executable, "/usr/bin/python3", shutil.which("python3")):
        if python is None:
            continue
        real = os.path.realpath(python)
        version = "import sys; sys.exit(sys.version_info < (3, 10))"
        if all(
            subprocess.run([*as_user, *cmd], capture_output=True, cwd="/", check=False).returncode == 0
            for cmd in (["test", "-x", real], [real, "-c", version])
        ):
            return real
    return None


def _kill_user_processes(uid: int) -> None:
    """Kill what this test started as the throwaway user, so it can be deleted."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    os.kill(int(entry), signal.SIGKILL)


@pytest.fixture(scope="module")
def new_user() -> Iterator[NewUser]:
    if not IS_ROOT:
        pytest.skip("creating a throwaway unprivileged user needs root (useradd)")
    for tool in ("useradd", "userdel", "setpriv"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not found")
    name = f"sbx{secrets.token_hex(4)}"
    _add_user(name)
    base = Path(tempfile.mkdtemp(prefix="sbx-user-"))
    uid = gid = -1
    try:
        base.chmod(0o755)
        uid, gid = int(_id(name, "-u")), int(_id(name, "-g"))
        python = _usable_python(uid, gid)
        if python is None:
            pytest.skip("no Python >= 3.10 executable by an unprivileged user")
        _package_copy(base / "pkg")
        (base / "driver.py").write_text(_DRIVER, encoding="utf-8")
        for root, dirs, files in os.walk(base):
            for entry in dirs + files:
                os.chmod(os.path.join(root, entry), 0o755 if entry in dirs else 0o644)
        yield NewUser(name, uid, gid, base, python)
    finally:
        if uid >= 0:
            _kill_user_processes(uid)
        subprocess.run(["userdel", name], capture_output=True, check=False)
        shutil.rmtree(base, ignore_errors=True)


def _id(name: str, flag: str) -> str:
    return subprocess.run(["id", flag, name], capture_output=True, text=True, check=True).stdout.strip()


@dataclass
class NewUserRun:
    """The driver's output as the new user, and the suite and its control."""

    resolve: dict[str, list[str]]
    warnings: list[str]
    suite: Suite
    control: Suite


@pytest.fixture(scope="module")
def new_user_run(new_user: NewUser, problems: list[dict]) -> Iterator[NewUserRun]:
    hosts = [Host(new_user.base / folder, new_user.uid, new_user.gid) for folder in ("suite", "control")]
    try:
        cases = hosts[0].cases()
        for i in CANONICAL:
            cases[f"humaneval/{i}"] = {
                "program": humaneval_program(problems[i], problems[i]["canonical_solution"])
            }
        control = {name: kwargs for name, kwargs in hosts[1].cases().items() if name in CONTROL_CASES}
        out = new_user.drive({"suite": ("auto", cases), "control": ("rlimits", control)})
        yield NewUserRun(
            out["resolve"],
            out["warnings"],
            _observe_suite(out["phases"]["suite"], hosts[0]),
            _observe_suite(out["phases"]["control"], hosts[1]),
        )
    finally:
        for host in hosts:
            host.close()


@pytest.fixture
def suite(request: pytest.FixtureRequest) -> Suite:
    if request.param == "caller":
        return request.getfixturevalue("suite_caller")
    return request.getfixturevalue("new_user_run").suite


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("suite", CONTEXTS, indirect=True)
@pytest.mark.parametrize("case", sorted(CHECKS))
def test_hostile_program_is_contained(suite: Suite, case: str) -> None:
    result = suite.results[case]
    _contained(result)
    CHECKS[case](result, suite)


def test_new_user_gets_userns_and_canonical_solutions_pass(new_user_run: NewUserRun) -> None:
    assert new_user_run.resolve == {"auto": ["userns", ""], "userns": ["userns", ""]}
    assert new_user_run.warnings == []
    for name, result in new_user_run.suite.results.items():
        assert result["isolation_mode"] == "userns", name
        assert "rlimit_nproc(per-userns)" in result["isolation"]
    for i in CANONICAL:
        result = new_user_run.suite.results[f"humaneval/{i}"]
        assert result["status"] == "passed", (result["reason"], result["stderr_tail"])


def test_control_without_namespaces_the_same_programs_escape(new_user_run: NewUserRun) -> None:
    """Mode rlimits, guard off: the checks above would see each escape."""
    control = new_user_run.control
    assert {r["isolation_mode"] for r in control.results.values()} == {"rlimits"}
    assert _observations(control.results["tcp"]) == {"connect": 0}
    assert _observations(control.results["unix"]) == {"connect": 0}
    assert control.host["accepted"] == {"tcp": True, "unix": True}
    assert set(_observations(control.results["write"]).values()) == {0}
    assert control.host["sentinel"] != "keep" and control.host["private"] is None
    assert _observations(control.results["signal"])["kill"] == 0
    assert control.host["victim_alive"] is False


def test_new_user_without_unshare_falls_back_with_the_reason(new_user: NewUser) -> None:
    benign = {"benign": {"program": "print('ok')"}}
    out = new_user.drive({"fallback": ("auto", benign)}, path="/nonexistent")
    result = out["phases"]["fallback"]["benign"]
    assert result["status"] == "passed" and result["isolation_mode"] == "rlimits"
    assert "unshare not found" in result["isolation_note"]
    assert out["resolve"]["auto"] == ["rlimits", result["isolation_note"]]
    assert out["resolve"]["userns"][0] == "InputError" and "unshare not found" in out["resolve"]["userns"][1]
    assert any("rlimits and the audit guard only" in w for w in out["warnings"])


def test_new_user_where_the_kernel_refuses_user_namespaces_falls_back(new_user: NewUser) -> None:
    """The probe runs the real sandbox; the kernel's refusal is the recorded reason."""
    help_text = subprocess.run(["unshare", "--help"], capture_output=True, text=True, check=False).stdout
    if "--keep-caps" not in help_text or "--map-user" not in help_text:
        pytest.skip("unshare lacks --map-user/--keep-caps (util-linux < 2.38)")
    benign = {"benign": {"program": "print('ok')"}}
    out = new_user.drive({"fallback": ("auto", benign)}, deny_userns=True)
    result = out["phases"]["fallback"]["benign"]
    assert result["status"] == "passed" and result["isolation_mode"] == "rlimits"
    note, prefix = result["isolation_note"], "unprivileged user namespaces unavailable: "
    assert note.startswith(prefix + "probe failed: ")
    assert os.strerror(errno.ENOSPC) in note  # what unshare(2) returns at the namespace limit
    why = note.removeprefix(prefix)
    assert out["resolve"]["userns"] == ["InputError", f"isolation='userns' is not available: {why}"]
    assert any(note in w for w in out["warnings"])


@pytest.mark.skipif(not IS_ROOT, reason="concerns root")
def test_root_gets_full_and_userns_is_refused() -> None:
    assert resolve_isolation("auto") == ("full", "")
    available, why = userns_isolation_status()
    assert not available and "root" in why
    with pytest.raises(InputError, match="userns"):
        run_program("pass", isolation="userns")


def test_shipped_data_is_humaneval(problems):
    assert len(problems) == 164
    assert problems[0]["task_id"] == "HumanEval/0"
    assert {"prompt", "canonical_solution", "test", "entry_point"} <= set(problems[0])


def test_canonical_solutions_pass(problems):
    chosen = [problems[i] for i in (0, 2, 12, 53, 163)]
    results = evaluate_humaneval(chosen, [p["canonical_solution"] for p in chosen])
    assert [r.status for r in results] == ["passed"] * len(chosen), [r.reason for r in results]
    assert pass_rate(results) == 1.0


def test_wrong_completion_fails_with_reason(problems):
    result = run_humaneval_problem(problems[0], "    return not True\n")
    assert result.status == "failed"
    assert "AssertionError" in result.reason


def test_syntax_error_is_failed(problems):
    result = run_humaneval_problem(problems[0], "    return (\n")
    assert result.status == "failed" and "SyntaxError" in result.reason


def test_fork_refused_by_audit_guard():
    result = run_program("import os\nos.fork()\n")
    assert result.status == "error" and "os.fork" in result.reason


def test_audit_guard_refuses_socket_and_writes_outside(tmp_path):
    """The in-process layer on its own (it runs in every mode)."""
    target = tmp_path / "new.txt"
    sock = run_program("import socket\nsocket.create_connection(('127.0.0.1', 9), timeout=1)\n")
    write = run_program(f"open({str(target)!r}, 'w').write('x')\n")
    assert sock.status == "error" and "socket" in sock.reason
    assert write.status == "error" and "open" in write.reason
    assert not target.exists()


def test_hostile_problems_do_not_stop_the_batch(problems, tmp_path):
    sentinel = tmp_path / "sentinel.txt"
    sentinel.write_text("keep")
    good = [problems[0], problems[2], problems[12]]
    hostile = {
        "loop": "    while True:\n        pass\n",
        "alloc": "    x = bytearray(8 * 1024 ** 3)\n",
        "delete": f"    import os\n    os.remove({str(sentinel)!r})\n",
        "exit": "    import os\n    os._exit(0)\n",
        "fork": "    import os\n    while True:\n        os.fork()\n",
    }
    batch, completions = [], []
    for name, body in hostile.items():
        problem = dict(problems[0], task_id=f"hostile/{name}")
        batch.append(problem)
        completions.append(body)
    for problem in good:
        batch.insert(2, problem)
        completions.insert(2, problem["canonical_solution"])
    results = evaluate_humaneval(batch, completions, timeout_s=2, workers=2)
    by_id = {r.task_id: r for r in results}
    assert len(results) == len(batch)
    for problem in good:
        assert by_id[problem["task_id"]].status == "passed"
    assert all(not by_id[f"hostile/{name}"].passed for name in hostile)
    assert by_id["hostile/loop"].status == "timeout"
    assert by_id["hostile/exit"].status == "error"
    assert sentinel.read_text() == "keep"
    assert pass_rate(results) == pytest.approx(3 / 8)


def test_completions_by_task_id(problems):
    chosen = problems[:2]
    results = evaluate_humaneval(chosen, {p["task_id"]: p["canonical_solution"] for p in chosen})
    assert [r.task_id for r in results] == ["HumanEval/0", "HumanEval/1"]
    assert all(r.passed for r in results)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"timeout_s": 0},
        {"timeout_s": float("nan")},
        {"memory_mb": 1},
        {"memory_mb": 65537},
        {"max_procs": 1},
        {"max_procs": 4097},
        {"max_procs": True},
        {"fsize_mb": 0},
        {"isolation": "none"},
        {"cpu_s": -1},
    ],
)
def test_bad_limits_raise_input_error(kwargs):
    name = next(iter(kwargs))
    with pytest.raises(InputError, match=name):
        run_program("pass", **kwargs)
    with pytest.raises(InputError, match=name):  # refused before any program runs
        evaluate_humaneval([], [], **kwargs)


@pytest.mark.parametrize("workers", [0, 65, True, 2.0])
def test_bad_worker_count_is_refused_by_name(workers):
    with pytest.raises(InputError, match=r"^workers: expected an int in \[1, 64\]"):
        evaluate_humaneval([], [], workers=workers)


def test_bad_isolation_name_raises_input_error():
    with pytest.raises(InputError, match="isolation"):
        resolve_isolation("bwrap")


def test_mismatched_completions_raise(problems):
    with pytest.raises(InputError, match="completions"):
        evaluate_humaneval(problems[:2], ["pass"])


@pytest.mark.skipif(not IS_ROOT, reason="the refusal concerns root only")
def test_rlimits_only_without_guard_is_refused_as_root():
    with pytest.raises(InputError, match="RLIMIT_NPROC"):
        run_program("pass", isolation="rlimits", audit_guard=False)
