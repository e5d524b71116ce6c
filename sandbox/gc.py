"""Orphan reaper: removes sandbox containers whose owning process is gone (selected by label)."""

from __future__ import annotations

import os
import socket
from typing import Any

LABEL = "phalanx.sandbox"
"""Every container phalanx creates carries this label (the reaper selects on it)."""


def process_start_ticks(pid: int) -> int:
    """Start time of `pid` in clock ticks since boot (guards against pid reuse); -1 if unknown."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return int(fh.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return -1


def owner_alive(labels: dict[str, str]) -> bool:
    """True when the process that created a container (per its labels) still runs on this host."""
    if labels.get("phalanx.owner_host") != socket.gethostname():
        # Another host's container: only its own reaper can judge it.
        return True
    try:
        pid = int(labels.get("phalanx.owner_pid", "-1"))
    except ValueError:
        return False
    if pid <= 0:
        return False
    start = process_start_ticks(pid)
    if start < 0:
        return False
    # A recycled pid belongs to a different process: its start time differs.
    return str(start) == labels.get("phalanx.owner_start", str(start))


def list_sandbox_containers(client: Any) -> list[dict[str, Any]]:
    """Every container carrying the phalanx label (running or not): id, name, status, labels."""
    out = []
    for c in client.api.containers(all=True, filters={"label": LABEL}):
        out.append(
            {
                "id": c["Id"],
                "name": (c.get("Names") or ["?"])[0].lstrip("/"),
                "status": c.get("State"),
                "labels": c.get("Labels") or {},
            }
        )
    return out


def reap_orphans(client: Any | None = None, *, everything: bool = False, dry_run: bool = False) -> list[str]:
    """Remove orphaned phalanx containers (all of them with `everything`); return their ids.

    Containers of live phalanx processes are kept unless `everything` is set.

    Args:
        client: a docker SDK client (default: `connect()` to the daemon of DOCKER_HOST).
        everything: also remove the containers of running phalanx processes.
        dry_run: remove nothing; return the ids that would be removed.

    Raises:
        SandboxUnavailable: no client was given and no daemon answers.
    """
    if client is None:
        from phalanx.sandbox.docker.client import connect

        client = connect()
    doomed = [c for c in list_sandbox_containers(client) if everything or not owner_alive(c["labels"])]
    if dry_run:
        return [c["id"] for c in doomed]
    removed = []
    for c in doomed:
        try:
            client.api.remove_container(c["id"], force=True, v=True)
            removed.append(c["id"])
            _remove_socket_dir(c["labels"].get("phalanx.socket_dir"))
        except Exception:
            # Already gone (another reaper, auto-removal): nothing to do.
            continue
    return removed


def _remove_socket_dir(path: str | None) -> None:
    """Remove the host dir that held a container's runner socket (only our own `phalanx-sock-*` dirs)."""
    if not path or not os.path.basename(path).startswith("phalanx-sock-") or not os.path.isdir(path):
        return
    import shutil

    try:
        os.chmod(path, 0o700)
    except OSError:
        pass
    shutil.rmtree(path, ignore_errors=True)
