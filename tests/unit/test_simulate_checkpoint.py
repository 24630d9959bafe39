"""steerbounds.simulate.checkpoint: an interrupted run resumes to the verdicts of an uninterrupted one."""

from __future__ import annotations

import json

import pytest

from steerbounds.io import RunStore, StoreLockedError
from steerbounds.simulate.checkpoint import CHECKPOINT, checkpointed_verdicts, settings_of
from steerbounds.simulate.verdicts import run_verdicts

NAMES = ("required_coefficient", "corollary1")
RUN = {"seed": 3, "thorough": False, "n_instances": 40}


@pytest.fixture(scope="module")
def fresh():
    """The uninterrupted run's verdicts (as dicts)."""
    return [v.to_dict() for v in run_verdicts(results=NAMES, **RUN)]


def _lines(folder):
    return (folder / CHECKPOINT).read_text(encoding="utf-8").splitlines()


def test_resume_after_a_kill_gives_the_uninterrupted_verdicts(tmp_path, fresh):
    # the "killed" run: it finished the first result only, then died mid-write
    with RunStore(tmp_path, records=CHECKPOINT) as store:
        first = checkpointed_verdicts(store, results=NAMES[:1], **RUN)
    assert [v.to_dict() for v in first] == fresh[: len(first)]
    assert len(_lines(tmp_path)) == 1
    other = {
        "settings": settings_of(seed=4, thorough=False, n_instances=40),
        "result": NAMES[1],
        "verdicts": [],
    }
    with (tmp_path / CHECKPOINT).open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(other) + "\n")  # another run's record: never reused
        fh.write('{"settings": {"seed": 3, "thor')  # torn last line

    with RunStore(tmp_path, records=CHECKPOINT) as store:
        resumed = checkpointed_verdicts(store, results=NAMES, **RUN)
    assert [v.to_dict() for v in resumed] == fresh
    records = [json.loads(line) for line in _lines(tmp_path)]  # the torn line was cut off
    assert [(r["settings"]["seed"], r["result"]) for r in records] == [
        (3, NAMES[0]),
        (4, NAMES[1]),
        (3, NAMES[1]),
    ]


def test_finished_results_are_reused_not_recomputed(tmp_path, fresh):
    with RunStore(tmp_path, records=CHECKPOINT) as store:
        checkpointed_verdicts(store, results=NAMES[:1], **RUN)
    record = json.loads(_lines(tmp_path)[0])
    for v in record["verdicts"]:
        v["instances"] = 12345  # a marker no computation produces
        v["worst_slack"] = "inf"  # a non-finite float survives the strict-JSON round trip
    (tmp_path / CHECKPOINT).write_text(json.dumps(record) + "\n", encoding="utf-8")
    with RunStore(tmp_path, records=CHECKPOINT) as store:
        resumed = [v.to_dict() for v in checkpointed_verdicts(store, results=NAMES, **RUN)]
    reused = [v for v in resumed if v["result"] == NAMES[0]]
    assert reused and all(v["instances"] == 12345 and v["worst_slack"] == float("inf") for v in reused)
    assert [v for v in resumed if v["result"] == NAMES[1]] == [v for v in fresh if v["result"] == NAMES[1]]


def test_a_corrupt_record_is_dropped_and_its_result_recomputed(tmp_path, fresh):
    (tmp_path / CHECKPOINT).write_text("not json\n", encoding="utf-8")
    with RunStore(tmp_path, records=CHECKPOINT) as store:
        resumed = checkpointed_verdicts(store, results=NAMES, **RUN)
    assert [v.to_dict() for v in resumed] == fresh
    assert [json.loads(line)["result"] for line in _lines(tmp_path)] == list(NAMES)


def test_a_second_writer_is_refused(tmp_path):
    with RunStore(tmp_path, records=CHECKPOINT), pytest.raises(StoreLockedError), RunStore(tmp_path):
        pass
