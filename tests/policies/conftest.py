"""Fixtures of the policy tests: one default stack per session (the embedding model loads once)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def default_stack():
    from phalanx.policies import PolicyStack

    return PolicyStack("default")


@pytest.fixture(scope="session")
def calibration() -> dict:
    """Hand-written benign queries and tool outputs (not from ToolSword)."""
    return yaml.safe_load((DATA / "benign_calibration.yaml").read_text())
