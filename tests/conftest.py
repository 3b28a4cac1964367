"""Shared fixtures: repository paths and the validated demo configuration."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
DEMO_CONFIG = ROOT / "config" / "config.yaml"


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def schema() -> dict:
    from slidemap.config import load_schema

    return load_schema(SCHEMA)


@pytest.fixture()
def demo_config() -> dict:
    with open(DEMO_CONFIG, encoding="utf-8") as fh:
        return yaml.safe_load(fh)
