"""Shared fixtures and prerequisite gates for the whole suite."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Generator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ("pytester",)  # tests/test_ci_prerequisites.py runs this file's rules on small suites

ROOT = Path(__file__).resolve().parents[1]

# Hardware CI machines do not have: a test marked with one of these is skipped where it is missing,
# in CI too. Every other skip means a missing prerequisite (data, image, daemon, package) and under
# CI=true fails the run with its reason instead (`pytest_runtest_makereport`).
HARDWARE_MARKERS = ("requires_gpu",)


def in_ci() -> bool:
    """True under CI=true, where a missing prerequisite must fail the run rather than skip."""
    return os.environ.get("CI") == "true"


@cache
def docker_available() -> bool:
    """True when a Docker daemon answers."""
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@cache
def gpu_available() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:
        return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        # CI starts dockerd, so there a sandbox test is never skipped: it runs and fails loudly.
        if "requires_docker" in item.keywords and not in_ci() and not docker_available():
            item.add_marker(pytest.mark.skip(reason="needs a Docker daemon (start dockerd; see README)"))
        if "requires_gpu" in item.keywords and not gpu_available():
            item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU"))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama checkpoint (+ BPE tokenizer with chat template) saved to a temp dir."""
    from phalanx.models.tiny import build_tiny_checkpoint

    return build_tiny_checkpoint(tmp_path_factory.mktemp("tiny-llama"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Generator[Any, Any, None]:
    """Under CI=true a skipped test fails with the skip's reason, unless it needs missing hardware."""
    outcome = yield
    report = outcome.get_result()
    if not (in_ci() and report.skipped) or hasattr(report, "wasxfail"):
        return
    if any(marker in item.keywords for marker in HARDWARE_MARKERS):
        return
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    reason = reason.removeprefix("Skipped: ")
    report.outcome = "failed"
    report.longrepr = (
        f"CI=true: a prerequisite of this test is missing, so it fails instead of skipping: {reason}"
    )


@pytest.fixture(scope="session")
def toolsword_dir() -> Path:
    """The ToolSword data shipped with phalanx (`policies/data/toolsword`)."""
    from phalanx.policies import toolsword_data_dir

    return toolsword_data_dir()


@pytest.fixture(scope="session")
def sample_path() -> Path:
    """The 300-problem APPS+ sample shipped with phalanx."""
    from phalanx.agents.stepcoder import default_data_path

    return default_data_path()
