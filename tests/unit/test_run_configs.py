"""The sweep and calibrate configurations keep their fields, defaults and run markers
(a sweep's manifest records ``SweepConfig.result_key``; resuming compares it)."""

from __future__ import annotations

import dataclasses

import pytest

from steerbounds.empirical.calibrate import CalibrateConfig
from steerbounds.empirical.sweep.config import SweepConfig

SWEEP_RESULT_KEY = {
    "behavior": "harmful",
    "measures": ["all"],
    "task": "mmlu",
    "coefficients": [],
    "relative": None,
    "n": 8,
    "seed": 0,
    "model": None,
    "vector": None,
    "layers": None,
    "method": "pca",
    "n_pairs": 128,
    "generate": "greedy",
    "max_new_tokens": 24,
    "temperature": 1.0,
    "batch_size": 8,
    "coef_chunk": 3,
    "delta_ref": None,
    "data_dir": None,
    "pairs_file": None,
    "prompts_file": None,
    "answers_file": None,
    "judge": None,
    "task_file": None,
    "device": "cpu",
    "dtype": "float32",
}
SWEEP_RUN_FIELDS = {
    "device_map",
    "max_memory",
    "fit_max_abs",
    "out",
    "resume",
    "repair",
    "progress",
    "shard",
    "ray",
    "ray_workers",
}
CALIBRATE_DEFAULTS = {
    "target": 0.5,
    "behavior": "racist",
    "level": "next-token",
    "task": "facts",
    "task_file": None,
    "min_helpfulness": None,
    "confidence": 0.9,
    "n": 64,
    "n_task": 24,
    "bootstrap": 300,
    "max_new_tokens": 24,
    "model": None,
    "vector": None,
    "layers": None,
    "method": "pca",
    "n_pairs": 128,
    "seed": 0,
    "data_dir": None,
    "pairs_file": None,
    "prompts_file": None,
    "answers_file": None,
    "judge": None,
    "device": "cpu",
    "dtype": "float32",
    "device_map": None,
    "max_memory": None,
    "batch_size": 16,
}


def test_sweep_result_key_and_run_fields_are_unchanged():
    config = SweepConfig()
    assert config.result_key() == SWEEP_RESULT_KEY
    assert {f.name for f in dataclasses.fields(SweepConfig) if f.metadata.get("run")} == SWEEP_RUN_FIELDS
    relative = SweepConfig(relative=(0.5,), coefficients=(1.0,)).result_key()
    assert "coefficients" not in relative and relative["relative"] == [0.5]


def test_calibrate_defaults_are_unchanged_and_target_is_required():
    assert dataclasses.asdict(CalibrateConfig(target=0.5)) == CALIBRATE_DEFAULTS
    assert dataclasses.asdict(CalibrateConfig(0.5)) == CALIBRATE_DEFAULTS
    with pytest.raises(TypeError, match="target"):
        CalibrateConfig()  # type: ignore[call-arg]
