"""The one store: atomic writes with the umask's mode, the locked run store, corrupt lines."""

from __future__ import annotations

import json
import math
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from steerbounds import io
from steerbounds.errors import InputError


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_atomic_writes_get_the_umask_mode(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        a = io.write_text(tmp_path / "a.txt", "x")
        b = io.write_json(tmp_path / "b.json", {"v": 1})
        with io.atomic_path(tmp_path / "c.bin") as t:
            t.write_bytes(b"1")
        with io.RunStore(tmp_path / "run") as store:
            store.append({"unit": "u"})
            store.write_manifest({"m": 1})
        for p in (a, b, tmp_path / "c.bin", store.records_path, store.manifest_path):
            assert _mode(p) == 0o666 & ~umask, p
    finally:
        os.umask(old)
    assert sorted(x.name for x in tmp_path.iterdir()) == ["a.txt", "b.json", "c.bin", "run"]


def test_failed_atomic_write_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), io.atomic_path(target) as t:
        t.write_text("half")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_json_is_standard_nan_becomes_null(tmp_path: Path) -> None:
    p = io.write_json(tmp_path / "x.json", {"a": math.nan, "b": [1.0, math.inf], "c": 2})
    text = p.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"a": None, "b": [1.0, None], "c": 2}


def test_read_json_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match="cannot read"):
        io.read_json(bad, what="manifest")
    with pytest.raises(InputError, match="no such file"):
        io.read_json(tmp_path / "missing.json", what="manifest")


def _locked_child(folder: Path) -> subprocess.Popen[str]:
    code = (
        "import time; from steerbounds import io\n"
        f"s = io.RunStore({str(folder)!r}); s.__enter__(); print('locked', flush=True); time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_second_writer_is_refused_at_once_naming_the_holder(tmp_path: Path) -> None:
    proc = _locked_child(tmp_path)
    try:
        with pytest.raises(io.StoreLockedError, match=rf"process {proc.pid}\b"), io.RunStore(tmp_path):
            pass
    finally:
        proc.kill()
        proc.wait()


def test_lock_of_a_killed_writer_is_released(tmp_path: Path) -> None:
    proc = _locked_child(tmp_path)
    with pytest.raises(io.StoreLockedError), io.RunStore(tmp_path):
        pass
    proc.kill()  # SIGKILL: no clean-up code runs, the OS drops the lock
    proc.wait()
    with io.RunStore(tmp_path):
        pass


def test_torn_tail_is_cut_and_corrupt_middle_line_reported(tmp_path: Path) -> None:
    with io.RunStore(tmp_path) as store:
        for i in range(3):
            store.append({"unit": f"u{i}"})
    path = tmp_path / "results.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + b"{garbage\n" + lines[1] + lines[2] + b'{"unit": "torn')
    with io.RunStore(tmp_path) as store:
        assert not path.read_bytes().endswith(b"torn")  # the torn tail is cut on open
        with pytest.raises(io.CorruptRecordError, match="line 2") as info:
            store.records()
        assert info.value.line == 2
        assert [r["unit"] for r in store.records(repair=True)] == ["u0", "u1", "u2"]
        assert store.done(lambda r: r["unit"]) == {"u0", "u1", "u2"}
    assert b"garbage" not in path.read_bytes()


def test_stale_temporaries_removed_only_when_writer_is_gone(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(dead.stdout)
    stale = tmp_path / f".vector.safetensors.{dead_pid}.abc{io.TEMP_SUFFIX}"
    stale.write_text("orphan")
    live = tmp_path / f".other.{os.getppid()}.xyz{io.TEMP_SUFFIX}"
    live.write_text("in use")
    assert io.remove_stale_temporaries(tmp_path) == [stale]
    assert live.exists() and not stale.exists()


def test_output_path_checks(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(InputError, match=r"--out: .* exists and is not a folder"):
        io.check_output_dir(f, option="--out")
    with pytest.raises(InputError, match=r"--out: .* is not a folder, so"):
        io.check_output_dir(f / "sub", option="--out")
    with pytest.raises(InputError, match=r"--plot: .* is a folder"):
        io.check_output_file(tmp_path, option="--plot")
    with pytest.raises(InputError, match=r"--plot: .* is not a folder, so"):
        io.check_output_file(f / "x.png", option="--plot")
    assert io.check_output_dir(tmp_path / "a" / "b", option="--out") == tmp_path / "a" / "b"
    assert not (tmp_path / "a").exists()  # checking creates nothing


def test_output_dir_removed_when_the_command_fails_early(tmp_path: Path) -> None:
    target = tmp_path / "run"
    with pytest.raises(RuntimeError), io.output_dir(target, option="--out"):
        raise RuntimeError("model failed to load")
    assert not target.exists()
    keep = tmp_path / "kept"
    with pytest.raises(RuntimeError), io.output_dir(keep, option="--out") as d:
        (d / "partial.jsonl").write_text("{}\n")
        raise RuntimeError("later failure")
    assert (keep / "partial.jsonl").exists()
