"""The extraction benchmark's verdict per scenario (benchmarks/extraction.py ``meets``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location(
        "extraction", ROOT / "benchmarks" / "extraction.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("accuracy", "missing", "decoys", "want"),
    [
        (0.75, 0.10, 0.75, True),  # every target exactly
        (0.74, 0.00, 1.00, False),
        (0.90, 0.11, 1.00, False),
        (0.90, 0.00, 0.60, False),
        (0.83, None, 0.75, True),  # no detectable slide: nothing to miss
        (0.83, float("nan"), None, True),  # no decoy either
        (None, None, None, False),  # no candidate: no accuracy
        (float("nan"), 0.0, 1.0, False),
    ],
)
def test_a_row_meets_the_targets(bench, accuracy, missing, decoys, want):
    row = {"accuracy": accuracy, "missing": missing, "decoys_rejected": decoys}
    assert bench.meets(row) is want
    assert bench.TARGETS == {"accuracy": 0.75, "missing": 0.10, "decoys_rejected": 0.75}
