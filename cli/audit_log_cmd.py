"""CLI commands: `phalanx audit-log show FILE` pretty-prints and filters a tool-call audit log."""

from __future__ import annotations

from pathlib import Path

import typer

from phalanx.cli.errors import fail

audit_log_app = typer.Typer(
    help="Inspect tool-call audit logs (one JSON line per call).", no_args_is_help=True
)


@audit_log_app.command("show")
def show(
    file: Path = typer.Argument(..., help="Audit log written by phalanx.tools.AuditLog (JSONL)."),
    tool: str | None = typer.Option(None, "--tool", help="Only calls of this tool."),
    blocked: bool = typer.Option(False, "--blocked", help="Only calls a hook blocked."),
    status: str | None = typer.Option(
        None, "--status", help="Only calls with this status (ok, error, invalid_args, ...)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the matching records as JSON lines."),
) -> None:
    """Pretty-print an audit log, optionally filtered."""
    import json

    from rich.console import Console
    from rich.table import Table

    from phalanx.tools import filter_audit_records, read_audit_log, summarize_audit_log

    try:
        records = read_audit_log(file)
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    records = filter_audit_records(records, tool=tool, blocked=blocked, status=status)
    if as_json:
        for r in records:
            typer.echo(r.model_dump_json())
        return
    table = Table(title=f"{file} ({len(records)} calls)")
    for col in ("time", "tool", "status", "size", "ms"):
        table.add_column(col, no_wrap=True)
    for col in ("verdicts", "args", "error"):
        table.add_column(col, overflow="fold")
    import datetime as dt

    for r in records:
        verdicts = ", ".join(f"{v.hook}:{v.action}" for v in r.verdicts if v.action != "allow") or "allow"
        args = json.dumps(r.args, ensure_ascii=False) if not isinstance(r.args, str) else r.args
        style = {"ok": "green", "blocked": "red"}.get(r.status, "yellow")
        table.add_row(
            dt.datetime.fromtimestamp(r.ts, dt.UTC).strftime("%H:%M:%S"),
            r.tool,
            f"[{style}]{r.status}[/{style}]",
            str(r.result_size),
            f"{r.duration_ms:.2f}",
            verdicts,
            args[:80] + ("..." if len(args) > 80 else ""),
            (r.error or "").splitlines()[0][:80] if r.error else "",
        )
    console = Console()
    console.print(table)
    summary = summarize_audit_log(records)
    console.print(", ".join(f"{k}: {v}" for k, v in summary.by_status.items()) or "no matching calls")


def register(app: typer.Typer) -> None:
    """Add `phalanx audit-log ...` to the root app."""
    app.add_typer(audit_log_app, name="audit-log")
