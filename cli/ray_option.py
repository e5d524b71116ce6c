"""The `--ray ADDRESS` option every long job takes (`phalanx[ray]`): shards over a Ray cluster."""

from __future__ import annotations

from typing import Any

import typer

RAY_HELP = (
    "run the job as shards over a Ray cluster: HOST:PORT of its head, auto (the cluster "
    "`ray start` runs on this machine) or local (start one here); without it, in-process"
)


def ray_option() -> Any:
    """The typer option (`--ray`, default None: in-process)."""
    return typer.Option(None, "--ray", metavar="ADDRESS", help=RAY_HELP)


def ray_executor(address: str | None) -> Any:
    """The `RayExecutor` for `--ray ADDRESS`, or None without the option."""
    from phalanx.agents.sharded import parse_ray_option

    return parse_ray_option(address)
