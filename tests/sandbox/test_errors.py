"""Bad input gives a clear error naming the problem and the fix, quickly, never a hang."""

from __future__ import annotations

import io
import subprocess
import tarfile
import time

import pytest

from phalanx.sandbox import Limits, SandboxConfigError, SandboxUnavailable, open_sandbox, run_python


def test_unknown_backend():
    with pytest.raises(SandboxConfigError, match="unknown sandbox backend 'nope'.*docker.*local"):
        open_sandbox("nope")


def test_local_backend_must_be_asked_for_explicitly():
    with pytest.raises(SandboxConfigError, match="insecure=True"):
        open_sandbox("local")
    with pytest.warns(UserWarning, match="NOT isolation"):
        sb = open_sandbox("local", insecure=True, pool_size=1)
    sb.close()


def test_limits_out_of_range_are_rejected():
    for bad in (
        {"timeout_s": 0},
        {"timeout_s": 10_000},
        {"memory_mb": 4},
        {"max_processes": 0},
        {"bogus": 1},
    ):
        with pytest.raises(ValueError):
            Limits(**bad)


@pytest.mark.requires_docker
def test_daemon_down_is_unavailable_quickly(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    start = time.monotonic()
    with pytest.raises(SandboxUnavailable, match="no Docker daemon answers.*dockerd"):
        open_sandbox("docker")
    assert time.monotonic() - start < 10


@pytest.mark.requires_docker
def test_unknown_image_is_a_config_error():
    with pytest.raises(
        SandboxConfigError, match="unknown sandbox image 'phalanx-no-such-image:1'.*never pulls"
    ):
        open_sandbox("docker", image="phalanx-no-such-image:1")


@pytest.mark.requires_docker
def test_recipe_not_built_says_which_command_builds_it(monkeypatch):
    from phalanx.sandbox.docker import image

    monkeypatch.setitem(image.RECIPES, "ghost", image.ImageRecipe("ghost", ("python3", "ghost-package")))
    with pytest.raises(SandboxUnavailable, match="build-image --name ghost"):
        open_sandbox("docker", image="ghost")


@pytest.mark.requires_docker
def test_pool_options_out_of_range():
    for bad in ({"pool_size": 0}, {"memory_mb": 1}, {"acquire_timeout_s": 0}):
        with pytest.raises(SandboxConfigError, match="out of range"):
            open_sandbox("docker", **bad)


@pytest.fixture
def image_without_python():
    """A local image holding one text file and no python3."""
    tag = "phalanx-test-no-python:1"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = b"no python here\n"
        info = tarfile.TarInfo("README")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    subprocess.run(
        ["docker", "import", "-", tag], input=buf.getvalue(), check=True, capture_output=True, timeout=60
    )
    yield tag
    subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, timeout=60)


@pytest.mark.requires_docker
async def test_image_without_python_is_a_clear_error(image_without_python, list_containers):
    sb = open_sandbox("docker", image=image_without_python, pool_size=1)
    try:
        with pytest.raises(SandboxConfigError, match="has no python3"):
            await asyncio_wait(run_python(sb, "print(1)"), 60)
    finally:
        await sb.aclose()
    assert list_containers(sb.pool_id) == []


async def asyncio_wait(coro, timeout):
    import asyncio

    return await asyncio.wait_for(coro, timeout)


@pytest.mark.requires_docker
async def test_unknown_runtime_is_a_clear_error(list_containers):
    sb = open_sandbox("docker", pool_size=1, runtime="phalanx-no-such-runtime")
    try:
        with pytest.raises(SandboxUnavailable, match="phalanx-no-such-runtime"):
            await asyncio_wait(run_python(sb, "print(1)"), 60)
    finally:
        await sb.aclose()
    assert list_containers(sb.pool_id) == []


def _sandbox_failing_to_start(times: int):
    """A DockerSandbox whose first `times` container starts fail as a daemon hiccup would."""
    from phalanx.sandbox.docker import DockerSandbox

    class Hiccup(DockerSandbox):
        failures = times

        def _new_container(self):
            if self.failures:
                self.failures -= 1
                raise SandboxUnavailable("docker could not create a sandbox container: daemon hiccup")
            return super()._new_container()

    return Hiccup("default", pool_size=1)


@pytest.mark.requires_docker
async def test_a_container_that_cannot_start_is_retried():
    sb = _sandbox_failing_to_start(2)
    try:
        r = await run_python(sb, "print('ran')", limits=Limits(timeout_s=5))
        assert r.ok and r.stdout == "ran\n" and sb.failures == 0
    finally:
        await sb.aclose()


@pytest.mark.requires_docker
async def test_a_sandbox_that_never_starts_raises_after_bounded_tries():
    from phalanx.sandbox.docker.backend import ATTEMPTS

    sb = _sandbox_failing_to_start(100)
    try:
        with pytest.raises(SandboxUnavailable, match="daemon hiccup"):
            await run_python(sb, "print('ran')", limits=Limits(timeout_s=5))
        assert sb.failures == 100 - ATTEMPTS
    finally:
        await sb.aclose()
