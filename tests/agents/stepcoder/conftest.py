"""StepCoder fixtures: one warm Docker pool of the `scientific` image per session (the sample: root conftest)."""

from __future__ import annotations

import os

import pytest

from phalanx.agents.stepcoder import Executor, ExecutorConfig, Problem


@pytest.fixture(scope="session")
def apps_sandbox():
    """A Docker sandbox of the `scientific` image (numpy, scipy) with 2 warm containers."""
    from phalanx.sandbox import SandboxUnavailable, open_sandbox

    try:
        sb = open_sandbox("docker", image="scientific", pool_size=2, memory_mb=2048)
    except SandboxUnavailable as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"docker sandbox unavailable: {exc}")
    yield sb
    sb.close()


@pytest.fixture
def executor(apps_sandbox) -> Executor:
    """An executor with short limits so failure tests stay fast."""
    return Executor(apps_sandbox, ExecutorConfig(case_timeout_s=1.0, wall_factor=3.0, memory_mb=256))


@pytest.fixture
def make_problem():
    """Build a small problem: `make_problem(io_mode, inputs, outputs, fn_name=...)`."""

    def make(io_mode: str, inputs: list, outputs: list, fn_name: str | None = "f", **kw) -> Problem:
        return Problem(
            problem_id=kw.pop("problem_id", "t"),
            io_mode=io_mode,
            inputs=inputs,
            outputs=outputs,
            fn_name=fn_name,
            **kw,
        )

    return make
