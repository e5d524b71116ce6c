"""Built-in tools that run in a `phalanx.sandbox.Sandbox`: python, shell, read_file, write_file, list_dir.

Sandboxes run every program in a fresh, empty work dir (see the `Sandbox`
contract), so the built-ins keep a `Workspace`: text files that are written into
the work dir before each program and read back after it (a small dump script
runs after the program and lists the work dir). `read_file`/`write_file`/
`list_dir` act on that workspace only. The host file system is touched only for
paths under an explicit `host_read_allow` / `host_write_allow` list; the
built-ins never open network connections (use a sandbox with network off).
"""

from __future__ import annotations

import json
import posixpath
import shlex
from collections.abc import Iterable, Sequence
from pathlib import Path

from phalanx.sandbox import ExecRequest, ExecResult, Limits, Sandbox
from phalanx.tools.errors import ToolExecutionError
from phalanx.tools.tool import Tool, tool
from phalanx.tools.types import RiskAnnotations

_PREFIX = "__phalanx_"
_MAIN = "__phalanx_main__.py"
_MANIFEST = "__phalanx_ws__.json"
BUILTIN_NAMES = ("python", "shell", "read_file", "write_file", "list_dir")

# Lists the work dir after the program (text files only, size-capped) into the manifest.
_DUMP_SCRIPT = f"""
import json, os, sys
LIMIT = __LIMIT__
files, skipped = {{}}, []
for root, dirs, names in os.walk("."):
    dirs[:] = [d for d in dirs if d not in ("__pycache__",)]
    for n in names:
        rel = os.path.relpath(os.path.join(root, n), ".").replace(os.sep, "/")
        if rel.startswith("{_PREFIX}"):
            continue
        try:
            if os.path.islink(rel) or os.path.getsize(rel) > LIMIT:
                skipped.append(rel)
                continue
            with open(rel, encoding="utf-8") as fh:
                files[rel] = fh.read()
        except (OSError, UnicodeDecodeError):
            skipped.append(rel)
with open("{_MANIFEST}", "w", encoding="utf-8") as fh:
    json.dump({{"files": files, "skipped": skipped}}, fh)
"""

# Runs the user's code as __main__ and always dumps the work dir, even on errors.
_PYTHON_HARNESS = f"""
import runpy, sys, traceback
def _dump():
    exec(__DUMP__, {{"__name__": "__phalanx_dump__"}})
try:
    runpy.run_path("{_MAIN}", run_name="__main__")
except SystemExit:
    _dump()
    raise
except BaseException:
    et, ev, tb = sys.exc_info()
    while tb is not None and tb.tb_frame.f_code.co_filename != "{_MAIN}":
        tb = tb.tb_next
    traceback.print_exception(et, ev, tb)
    _dump()
    sys.exit(1)
_dump()
"""


class Workspace:
    """Text files the built-in tools share between executions (a virtual work dir).

    Args:
        files: initial files (relative path -> text).
        max_file_bytes: largest file kept (bigger ones are refused / skipped).
    """

    def __init__(self, files: dict[str, str] | None = None, *, max_file_bytes: int = 1_000_000) -> None:
        self.max_file_bytes = max_file_bytes
        self.files: dict[str, str] = {}
        for path, text in (files or {}).items():
            self.write(path, text)

    @staticmethod
    def normalize(path: str) -> str:
        """A clean relative path inside the workspace.

        Raises:
            ToolExecutionError: absolute paths, `..` escapes, or reserved names.
        """
        if not path or path.startswith("/") or path.startswith("~"):
            raise ToolExecutionError(f"path {path!r} must be relative to the workspace (no leading / or ~)")
        clean = posixpath.normpath(path.replace("\\", "/"))
        if clean == ".":
            return ""
        if clean.startswith("..") or clean.split("/")[0].startswith(_PREFIX):
            raise ToolExecutionError(f"path {path!r} leaves the workspace or uses a reserved name")
        return clean

    def read(self, path: str) -> str:
        rel = self.normalize(path)
        if rel not in self.files:
            raise ToolExecutionError(f"no file {rel!r} in the workspace; list_dir shows what exists")
        return self.files[rel]

    def write(self, path: str, text: str) -> int:
        rel = self.normalize(path)
        if not rel:
            raise ToolExecutionError("write_file needs a file name, not the workspace root")
        size = len(text.encode("utf-8"))
        if size > self.max_file_bytes:
            raise ToolExecutionError(
                f"file {rel!r} is {size} bytes; the workspace limit is {self.max_file_bytes}"
            )
        self.files[rel] = text
        return size

    def list(self, path: str = ".") -> list[str]:
        """Entries directly under `path` (folders end with '/')."""
        rel = self.normalize(path)
        prefix = f"{rel}/" if rel else ""
        entries: set[str] = set()
        for name in self.files:
            if name.startswith(prefix):
                head, sep, _ = name[len(prefix) :].partition("/")
                entries.add(head + "/" if sep else head)
        if rel and not entries:
            raise ToolExecutionError(f"no folder {rel!r} in the workspace")
        return sorted(entries)

    def request_files(self) -> dict[str, str]:
        return dict(self.files)

    def absorb(self, result: ExecResult) -> str | None:
        """Take the files a program left behind; returns a note when that was not possible."""
        raw = result.files.get(_MANIFEST)
        if raw is None:
            return "the workspace was not updated (the program was stopped before its files could be read)"
        try:
            manifest = json.loads(raw)
        except json.JSONDecodeError:
            return "the workspace was not updated (its listing was unreadable)"
        self.files = {k: v for k, v in manifest.get("files", {}).items() if not k.startswith(_PREFIX)}
        skipped = manifest.get("skipped") or []
        return (
            f"not kept in the workspace (binary, link or too large): {', '.join(skipped[:10])}"
            if skipped
            else None
        )


def _allowed(path: Path, roots: Iterable[Path]) -> bool:
    resolved = path.resolve()
    return any(resolved == root or root in resolved.parents for root in roots)


def format_exec(result: ExecResult, note: str | None = None) -> str:
    """What the model sees of one execution."""
    parts = [
        f"exit_code: {result.exit_code if result.exit_code is not None else f'killed by signal {result.signal}'}"
    ]
    if result.timed_out:
        parts.append("the program hit its time limit")
    elif result.memory_exceeded:
        parts.append("the program hit its memory limit")
    elif result.limit_hit:
        parts.append("the program hit a resource limit")
    if result.stdout:
        parts.append(
            "stdout:\n" + result.stdout + ("\n[stdout truncated]" if result.stdout_truncated else "")
        )
    if result.stderr:
        parts.append(
            "stderr:\n" + result.stderr + ("\n[stderr truncated]" if result.stderr_truncated else "")
        )
    if note:
        parts.append(note)
    return "\n".join(parts)


def sandbox_tools(
    sandbox: Sandbox,
    *,
    workspace: Workspace | None = None,
    limits: Limits | None = None,
    include: Sequence[str] = BUILTIN_NAMES,
    host_read_allow: Sequence[str | Path] = (),
    host_write_allow: Sequence[str | Path] = (),
) -> list[Tool]:
    """The built-in tools, bound to one sandbox and one workspace.

    Args:
        sandbox: where `python` and `shell` run (e.g. `open_sandbox("docker")`).
        workspace: the shared files (a fresh empty one when None).
        limits: limits of each program run (sandbox defaults when None).
        include: which built-ins to return.
        host_read_allow: host folders `read_file`/`list_dir` may read via absolute paths.
        host_write_allow: host folders `write_file` may write via absolute paths.
    """
    unknown = set(include) - set(BUILTIN_NAMES)
    if unknown:
        raise ValueError(f"unknown built-in tool(s) {sorted(unknown)}; choose from {BUILTIN_NAMES}")
    ws = workspace or Workspace()
    read_roots = [Path(p).resolve() for p in host_read_allow]
    write_roots = [Path(p).resolve() for p in host_write_allow]
    built = {
        **_program_tools(sandbox, ws, limits or Limits()),
        **_file_tools(ws, read_roots, write_roots),
    }
    return [built[name] for name in include]


def _program_tools(sandbox: Sandbox, ws: Workspace, run_limits: Limits) -> dict[str, Tool]:
    """`python` and `shell`: programs run in the sandbox, with the workspace's files around them and
    the files they write absorbed back into it."""
    dump_src = _DUMP_SCRIPT.replace("__LIMIT__", str(ws.max_file_bytes))

    async def execute(request_files: dict[str, str], **program: object) -> str:
        files = {**ws.request_files(), **request_files}
        request = ExecRequest(files=files, collect=[_MANIFEST], limits=run_limits, **program)
        result = await sandbox.execute(request)
        return format_exec(result, ws.absorb(result))

    async def python(code: str, stdin: str = "") -> str:
        """Run Python 3 code in the sandbox; files it writes stay in the workspace.

        Args:
            code: the program; print what you want to see.
            stdin: text fed to standard input.
        """
        harness = _PYTHON_HARNESS.replace("__DUMP__", repr(dump_src))
        return await execute({_MAIN: code}, code=harness, stdin=stdin)

    async def shell(command: str) -> str:
        """Run a shell command (sh) in the sandbox's work dir; files it writes stay in the workspace.

        Args:
            command: the command line.
        """
        # A subshell, so `exit` or `exec` in the command still lets the workspace be read back.
        script = f"(\n{command}\n)\n__phalanx_status=$?\npython3 -c {shlex.quote(dump_src)}\nexit $__phalanx_status\n"
        return await execute({}, command=["sh", "-c", script])

    return {
        "python": tool(python, risk=RiskAnnotations(executes_code=True)),
        "shell": tool(shell, risk=RiskAnnotations(executes_code=True)),
    }


def _file_tools(ws: Workspace, read_roots: list[Path], write_roots: list[Path]) -> dict[str, Tool]:
    """`read_file`, `write_file` and `list_dir` on the workspace (and on the allowed host folders)."""

    def read_file(path: str) -> str:
        """Read a text file from the workspace.

        Args:
            path: path relative to the workspace.
        """
        if path.startswith("/") and read_roots:
            host = Path(path)
            if not _allowed(host, read_roots):
                raise ToolExecutionError(f"host path {path!r} is outside the allowed folders")
            return host.read_text(encoding="utf-8")
        return ws.read(path)

    def write_file(path: str, content: str) -> str:
        """Write (create or overwrite) a text file in the workspace.

        Args:
            path: path relative to the workspace.
            content: the full new text of the file.
        """
        if path.startswith("/") and write_roots:
            host = Path(path)
            if not _allowed(host, write_roots):
                raise ToolExecutionError(f"host path {path!r} is outside the allowed folders")
            host.write_text(content, encoding="utf-8")
            return f"wrote {len(content)} characters to {path}"
        size = ws.write(path, content)
        return f"wrote {size} bytes to {Workspace.normalize(path)}"

    def list_dir(path: str = ".") -> list[str]:
        """List the files and folders (ending in '/') under a workspace folder.

        Args:
            path: folder relative to the workspace ('.' is the root).
        """
        if path.startswith("/") and read_roots:
            host = Path(path)
            if not _allowed(host, read_roots) or not host.is_dir():
                raise ToolExecutionError(f"host path {path!r} is not an allowed folder")
            return sorted(p.name + ("/" if p.is_dir() else "") for p in host.iterdir())
        return ws.list(path)

    return {
        "read_file": tool(read_file, risk=RiskAnnotations(reads_private_data=bool(read_roots))),
        "write_file": tool(write_file, risk=RiskAnnotations(destructive=True)),
        "list_dir": tool(list_dir),
    }
