"""Two clean runs of the whole demo workflow give the same files (hashes)."""

from __future__ import annotations

from pathlib import Path

import pytest
from workflow_helpers import RESULTS, file_hashes, make_workdir, snakemake

pytestmark = pytest.mark.workflow


def test_two_clean_runs_give_identical_files(request, tmp_path, root: Path):
    # the second run first, then the session's demo run: under pytest-xdist the other
    # worker builds that one meanwhile
    second = make_workdir(tmp_path / "second", root)
    snakemake(second, "--cores", "2")
    demo = request.getfixturevalue("demo")
    first_hashes = file_hashes(demo / RESULTS)
    second_hashes = file_hashes(second / RESULTS)
    assert sorted(first_hashes) == sorted(second_hashes)
    differ = [name for name in first_hashes if first_hashes[name] != second_hashes[name]]
    assert not differ, differ
