"""Shared fixtures and prerequisite gates for the whole suite."""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
"""The project's shared data folder (ToolSword, APPS+), beside the checkout."""


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
    in_ci = os.environ.get("CI") == "true"
    for item in items:
        # CI starts dockerd, so there a sandbox test is never skipped: it runs and fails loudly.
        if "requires_docker" in item.keywords and not in_ci and not docker_available():
            item.add_marker(pytest.mark.skip(reason="needs a Docker daemon (start dockerd; see README)"))
        if "requires_gpu" in item.keywords and not gpu_available():
            item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU"))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama checkpoint (+ BPE tokenizer with chat template) saved to a temp dir."""
    from phalanx.models.tiny import build_tiny_checkpoint

    return build_tiny_checkpoint(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """`../shared` beside the checkout; skips if it is not there."""
    if not SHARED.is_dir():
        pytest.skip("../shared (project data) is not beside this checkout")
    return SHARED
