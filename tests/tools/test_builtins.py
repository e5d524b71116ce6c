"""Built-in tools in a real sandbox: the workspace persists between runs; the host stays out of reach."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from phalanx.sandbox import Limits, SandboxUnavailable, open_sandbox
from phalanx.tools import Toolset, Workspace, sandbox_tools


@pytest.fixture
async def local_sandbox() -> AsyncIterator:
    with pytest.warns(UserWarning, match="NOT isolation"):
        sandbox = open_sandbox("local", insecure=True, pool_size=1)
    yield sandbox
    await sandbox.aclose()


async def _exercise(sandbox) -> None:
    ws = Workspace({"data/in.txt": "3\n4\n"})
    ts = Toolset(sandbox_tools(sandbox, workspace=ws, limits=Limits(timeout_s=20)))
    r = await ts.call(
        "python",
        {
            "code": "nums = [int(x) for x in open('data/in.txt')]\nopen('data/sum.txt', 'w').write(str(sum(nums)))\nprint('sum', sum(nums))"
        },
    )
    assert r.status == "ok" and "exit_code: 0" in r.content and "sum 7" in r.content, r.content
    assert ws.files["data/sum.txt"] == "7"
    assert (await ts.call("list_dir", {"path": "data"})).output == ["in.txt", "sum.txt"]
    assert (await ts.call("write_file", {"path": "notes/a.md", "content": "hi"})).status == "ok"
    r = await ts.call("shell", {"command": "cat notes/a.md data/sum.txt; echo more > notes/b.md; exit 3"})
    assert "exit_code: 3" in r.content and "hi7" in r.content, r.content
    assert (await ts.call("read_file", {"path": "notes/b.md"})).content == "more\n"
    r = await ts.call(
        "python", {"code": "import os\nos.remove('notes/a.md')\ndef f():\n    raise KeyError('k')\nf()"}
    )
    assert (
        "exit_code: 1" in r.content
        and "KeyError" in r.content
        and 'File "__phalanx_main__.py", line 5' in r.content
    )
    assert "notes/a.md" not in ws.files and "notes/b.md" in ws.files


async def test_builtins_in_local_sandbox(local_sandbox) -> None:
    await _exercise(local_sandbox)


@pytest.mark.requires_docker
async def test_builtins_in_docker_sandbox() -> None:
    try:
        sandbox = open_sandbox("docker", pool_size=1)
    except SandboxUnavailable as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"docker sandbox unavailable here: {exc}")
    try:
        await _exercise(sandbox)
    finally:
        await sandbox.aclose()


async def test_host_paths_need_an_allow_list(local_sandbox, tmp_path: Path) -> None:
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "x.txt").write_text("visible")
    (tmp_path / "secret.txt").write_text("hidden")
    closed = Toolset(sandbox_tools(local_sandbox))
    r = await closed.call("read_file", {"path": str(allowed / "x.txt")})
    assert r.status == "error" and "relative to the workspace" in r.content
    assert (await closed.call("read_file", {"path": "../secret.txt"})).status == "error"
    assert (await closed.call("write_file", {"path": "/tmp/pwn.txt", "content": "x"})).status == "error"

    opened = Toolset(
        sandbox_tools(local_sandbox, host_read_allow=[allowed], include=["read_file", "list_dir"])
    )
    assert opened.names == ["read_file", "list_dir"]
    assert (await opened.call("read_file", {"path": str(allowed / "x.txt")})).content == "visible"
    assert (await opened.call("list_dir", {"path": str(allowed)})).output == ["x.txt"]
    escape = await opened.call("read_file", {"path": str(allowed / ".." / "secret.txt")})
    assert escape.status == "error" and "outside the allowed folders" in escape.content
    assert opened.get("read_file").risk.reads_private_data


def test_workspace_rejects_escapes_and_reserved_names() -> None:
    ws = Workspace()
    for bad in ["/etc/passwd", "../x", "a/../../x", "~/x", "__phalanx_main__.py"]:
        with pytest.raises(Exception, match="workspace|reserved"):
            ws.write(bad, "x")
    with pytest.raises(ValueError, match="unknown built-in"):
        sandbox_tools(object(), include=["python", "browser"])  # type: ignore[arg-type]
