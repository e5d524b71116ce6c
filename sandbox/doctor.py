"""`phalanx sandbox doctor`: what the sandbox needs, what is missing, and how to fix it."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass


@dataclass
class Check:
    """One finding: `status` is ok, warn (works, with a caveat) or fail (the sandbox cannot run)."""

    name: str
    status: str
    detail: str
    fix: str = ""


def run_checks(*, smoke: bool = True) -> list[Check]:
    """Check the docker SDK and daemon, each recipe image, build tools, orphans, and run one program."""
    from phalanx.sandbox.errors import SandboxError

    checks: list[Check] = []
    try:
        import docker  # noqa: F401
    except ImportError:
        return [Check("docker SDK", "fail", "the `docker` python package is missing", "pip install docker")]
    from phalanx.sandbox.docker.client import DAEMON_HINT, connect
    from phalanx.sandbox.docker.image import RECIPES, image_is_current
    from phalanx.sandbox.gc import list_sandbox_containers, owner_alive

    try:
        client = connect(timeout_s=10)
    except SandboxError as exc:
        checks.append(Check("docker daemon", "fail", str(exc).split(";")[0], DAEMON_HINT))
        return checks
    info = client.version()
    checks.append(Check("docker daemon", "ok", f"Docker {info.get('Version', '?')} answers"))
    missing = []
    for name, recipe in RECIPES.items():
        if image_is_current(client, name):
            checks.append(Check(f"image {name}", "ok", recipe.tag))
        else:
            missing.append(name)
            status = "fail" if name == "default" else "warn"
            checks.append(
                Check(
                    f"image {name}",
                    status,
                    f"{recipe.tag} is not built",
                    f"phalanx sandbox build-image --name {name}",
                )
            )
    if missing:
        if shutil.which("debootstrap") is None:
            checks.append(
                Check("debootstrap", "fail", "needed to build images", "apt-get install debootstrap")
            )
        if os.geteuid() != 0:
            checks.append(
                Check("root", "warn", "building images needs root", "run build-image as root / with sudo")
            )
    runtimes = sorted((client.info().get("Runtimes") or {}).keys())
    checks.append(
        Check(
            "runtimes",
            "ok",
            ", ".join(runtimes)
            + ("" if "runsc" in runtimes else " (gVisor `runsc` not installed: optional)"),
        )
    )
    orphans = [c for c in list_sandbox_containers(client) if not owner_alive(c["labels"])]
    if orphans:
        checks.append(
            Check("orphans", "warn", f"{len(orphans)} container(s) of dead processes", "phalanx sandbox gc")
        )
    else:
        checks.append(Check("orphans", "ok", "no leftover sandbox containers"))
    if smoke and "default" not in missing:
        checks.append(_smoke())
    return checks


def _smoke() -> Check:
    import asyncio

    from phalanx.sandbox import SandboxError, open_sandbox, run_python

    async def go() -> tuple[str, float]:
        sb = open_sandbox("docker", pool_size=1, reap_orphans=False)
        try:
            await run_python(sb, "pass")
            start = time.perf_counter()
            r = await run_python(sb, "print(1+1)")
            return r.stdout.strip(), (time.perf_counter() - start) * 1000
        finally:
            await sb.aclose()

    try:
        out, ms = asyncio.run(go())
    except SandboxError as exc:
        return Check("run", "fail", f"could not run a program: {exc}")
    if out != "2":
        return Check("run", "fail", f"print(1+1) printed {out!r}")
    return Check("run", "ok", f"print(1+1) -> 2 in {ms:.1f} ms (warm)")
