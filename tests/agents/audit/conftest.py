"""Fixtures of the audit tests: a tiny ToolSword-shaped data folder built from the shipped copy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def small_data(toolsword_dir, tmp_path_factory) -> Path:
    """Two records of each scenario (JA: two per template), copied from the shipped ToolSword data."""
    src = toolsword_dir / "data"
    dst = tmp_path_factory.mktemp("toolsword-small")
    for path in src.glob("data_*.json"):
        records = json.loads(path.read_text())
        if path.name == "data_JA.json":
            keep = records[0:2] + records[55:57] + records[110:112]
        else:
            keep = records[:2]
        (dst / path.name).write_text(json.dumps(keep))
    return dst
