"""The HumanEval sandbox contains hostile programs (steerbounds.empirical.humaneval.sandbox).

Most hostile snippets run with ``audit_guard=False`` so that the OS-level
mechanism (rlimits, uid switch, namespaces, read-only mounts) is what stops
them, and once with the guard so the in-process layer is exercised too.
"""

from __future__ import annotations

import os
import socket
import subprocess

import pytest

from steerbounds.empirical.humaneval.sandbox import (
    evaluate_humaneval,
    full_isolation_available,
    load_humaneval,
    pass_rate,
    run_humaneval_problem,
    run_program,
)
from steerbounds.errors import InputError

full = pytest.mark.skipif(
    not full_isolation_available(), reason="full isolation needs root and util-linux unshare"
)


@pytest.fixture(scope="module")
def problems() -> list[dict]:
    return load_humaneval()


def _ephemeral_uid_processes() -> list[str]:
    out = subprocess.run(["ps", "-eo", "uid=,pid=,stat="], capture_output=True, text=True, check=True)
    return [line for line in out.stdout.splitlines() if int(line.split()[0]) >= 2_000_000_000]


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


def test_infinite_loop_hits_wall_clock_limit():
    result = run_program("while True:\n    pass\n", timeout_s=1.5)
    assert result.status == "timeout"
    assert "wall-clock" in result.reason


def test_cpu_limit_kills_busy_loop_before_wall_clock():
    result = run_program("while True:\n    pass\n", timeout_s=60, cpu_s=1, audit_guard=False)
    assert result.status == "timeout"
    assert "CPU" in result.reason
    assert result.wall_s < 30


def test_huge_allocation_is_refused():
    result = run_program("x = bytearray(4 * 1024 ** 3)\nprint('allocated')\n", memory_mb=256)
    assert result.status == "failed"
    assert "MemoryError" in result.reason
    assert "allocated" not in result.stdout_tail


@full
def test_process_limit_is_enforced_even_as_root():
    program = (
        "import os, time\n"
        "n = 0\n"
        "for _ in range(100):\n"
        "    try:\n"
        "        pid = os.fork()\n"
        "    except OSError:\n"
        "        break\n"
        "    if pid == 0:\n"
        "        time.sleep(60)\n"
        "        os._exit(0)\n"
        "    n += 1\n"
        "print('forked', n)\n"
    )
    result = run_program(program, max_procs=6, audit_guard=False, timeout_s=20)
    assert result.status == "passed", result.reason
    # max_procs counts the program itself: 5 more processes at most.
    assert "forked 5" in result.stdout_tail
    assert result.wall_s < 20  # the sleeping children did not keep the sandbox alive
    assert _ephemeral_uid_processes() == []


@full
def test_fork_bomb_is_contained_and_cleaned_up():
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    result = run_program(bomb, timeout_s=2, max_procs=16, audit_guard=False)
    assert result.status == "timeout"
    assert _ephemeral_uid_processes() == []


def test_fork_refused_by_audit_guard():
    result = run_program("import os\nos.fork()\n")
    assert result.status == "error" and "os.fork" in result.reason


@full
@pytest.mark.parametrize("guard", [False, True])
def test_no_network_even_to_localhost(guard):
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.5)
    port = server.getsockname()[1]
    try:
        program = (
            "import socket\n"
            f"s = socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
            "s.sendall(b'leak')\n"
        )
        result = run_program(program, audit_guard=guard)
        with pytest.raises(socket.timeout):
            server.accept()
    finally:
        server.close()
    assert result.status in ("failed", "error")
    assert ("unreachable" in result.reason) if not guard else ("socket" in result.reason)


@full
@pytest.mark.parametrize("guard", [False, True])
def test_cannot_delete_or_write_outside_even_world_writable(tmp_path, guard):
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    open_dir.chmod(0o777)  # writable by anyone: only the read-only mount protects it
    sentinel = open_dir / "sentinel.txt"
    sentinel.write_text("keep")
    sentinel.chmod(0o666)
    private = tmp_path / "private_sentinel.txt"
    private.write_text("keep")
    program = (
        "import os\n"
        "errors = []\n"
        f"for action in (lambda: os.remove({str(sentinel)!r}), lambda: os.remove({str(private)!r}),\n"
        f"               lambda: open({str(open_dir / 'new.txt')!r}, 'w').write('x'),\n"
        f"               lambda: open({str(sentinel)!r}, 'a').write('x')):\n"
        "    try:\n"
        "        action()\n"
        "    except Exception as exc:\n"
        "        errors.append(type(exc).__name__)\n"
        "print(errors)\n"
        "assert len(errors) == 4\n"
    )
    result = run_program(program, audit_guard=guard)
    assert sentinel.read_text() == "keep"
    assert private.read_text() == "keep"
    assert not (open_dir / "new.txt").exists()
    assert result.status == ("passed" if not guard else "error"), result.reason


@full
def test_own_workdir_is_writable_and_is_home_and_tmpdir():
    program = (
        "import os, tempfile\n"
        "cwd = os.getcwd()\n"
        "assert os.environ['HOME'] == cwd and os.environ['TMPDIR'] == cwd\n"
        "assert tempfile.gettempdir() == cwd\n"
        "with open('scratch.txt', 'w') as fh:\n"
        "    fh.write('ok')\n"
        "assert open('scratch.txt').read() == 'ok'\n"
        "assert os.getuid() != 0\n"
    )
    result = run_program(program)
    assert result.status == "passed", (result.reason, result.stderr_tail)
    assert "netns" in result.isolation and "mountns_readonly" in result.isolation


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
        {"max_procs": 1},
        {"isolation": "none"},
        {"cpu_s": -1},
    ],
)
def test_bad_limits_raise_input_error(kwargs):
    with pytest.raises(InputError):
        run_program("pass", **kwargs)


def test_mismatched_completions_raise(problems):
    with pytest.raises(InputError, match="completions"):
        evaluate_humaneval(problems[:2], ["pass"])


@pytest.mark.skipif(os.geteuid() != 0, reason="the refusal concerns root only")
def test_rlimits_only_without_guard_is_refused_as_root():
    with pytest.raises(InputError, match="RLIMIT_NPROC"):
        run_program("pass", isolation="rlimits", audit_guard=False)
