"""Declared dependencies match the code: what the library imports is a runtime dependency
(pyproject.toml and the conda environments of the rules), what only tests and benchmarks
import is in the ``test`` extra, and nothing is declared that nothing imports.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
#: Runtime dependencies that the library does not import: the workflow engine and its plugin.
RUNNERS = {"snakemake", "snakemake-executor-plugin-slurm"}
#: Conda package names that differ from the PyPI distribution names.
CONDA_NAMES = {"torch": "pytorch", "xgboost": "py-xgboost"}


def third_party_imports(*folders: str) -> set[str]:
    """Top-level modules imported (anywhere in a file, lazily too) outside the stdlib."""
    found = set()
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    found.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    found.add(node.module.split(".")[0])
    local = {p.stem for d in ("tests", "benchmarks") for p in (ROOT / d).rglob("*.py")}
    local |= {"slidemap", "conftest"}
    return {m for m in found if m not in sys.stdlib_module_names and m not in local}


def distributions(modules: set[str]) -> set[str]:
    """The installed distributions (normalised names) that provide ``modules``."""
    provided = packages_distributions()
    return {_norm(provided[m][0]) for m in modules}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> tuple[set[str], set[str]]:
    """(runtime dependencies, test extra) of pyproject.toml, normalised names."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]

    def names(reqs: list[str]) -> set[str]:
        return {_norm(re.split(r"[\[<>=!~; ]", r, maxsplit=1)[0]) for r in reqs}

    return names(project["dependencies"]), names(project["optional-dependencies"]["test"])


def test_library_imports_are_exactly_the_runtime_dependencies():
    runtime, _ = declared()
    used = distributions(third_party_imports("src/slidemap", "scripts"))
    assert used - runtime == set(), "imported by the library but not declared"
    assert runtime - RUNNERS - used == set(), "declared but imported by no library module"


def test_what_only_tests_and_benchmarks_import_is_in_the_test_extra():
    runtime, test = declared()
    used = distributions(third_party_imports("tests", "benchmarks"))
    assert used - runtime - test == set()
    assert test & runtime == set()


def test_conda_environments_hold_every_library_dependency():
    runtime, test = declared()
    conda = set()
    for env in ("geo", "ml"):
        spec = yaml.safe_load((ROOT / "envs" / f"{env}.yaml").read_text(encoding="utf-8"))
        conda |= {_norm(d.split("=")[0]) for d in spec["dependencies"] if isinstance(d, str)}
    wanted = {CONDA_NAMES.get(name, name) for name in runtime - RUNNERS}
    assert wanted - conda == set(), "runtime dependencies missing from envs/*.yaml"
    assert conda & {CONDA_NAMES.get(n, n) for n in test} == set(), "test-only packages in envs"
