"""Sandbox images: named recipes built offline with debootstrap, tagged by a hash of the recipe.

`default` is Debian bookworm minbase plus `python3` (python3-minimal lacks most
of the standard library); `scientific` adds numpy and scipy (APPS+ solutions use
them). A recipe's tag is `phalanx-sandbox:<name>-<hash12>`, so an image is
rebuilt only when its recipe changes, and stale tags are simply unused. The root
file system tarball is cached, so re-importing a deleted image takes seconds.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phalanx.sandbox.errors import SandboxConfigError, SandboxUnavailable

REPOSITORY = "phalanx-sandbox"
RECIPE_FORMAT = 1
"""Bump when the build procedure itself changes (it is part of every recipe's hash)."""


@dataclass(frozen=True)
class ImageRecipe:
    """How to build one named sandbox image."""

    name: str
    packages: tuple[str, ...]
    """Debian packages installed with `debootstrap --include`."""
    suite: str = "bookworm"
    variant: str = "minbase"

    @property
    def digest(self) -> str:
        spec = {
            "format": RECIPE_FORMAT,
            "suite": self.suite,
            "variant": self.variant,
            "packages": sorted(self.packages),
        }
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]

    @property
    def tag(self) -> str:
        return f"{REPOSITORY}:{self.name}-{self.digest}"


RECIPES: dict[str, ImageRecipe] = {
    "default": ImageRecipe("default", ("python3",)),
    "scientific": ImageRecipe("scientific", ("python3", "python3-numpy", "python3-scipy")),
}


def cache_dir() -> Path:
    """Where root file system tarballs are cached (`$PHALANX_CACHE` or `~/.cache/phalanx`)."""
    root = Path(os.environ.get("PHALANX_CACHE", Path.home() / ".cache" / "phalanx"))
    return root / "sandbox-images"


def resolve_image(client: Any, image: str) -> str:
    """The local image reference for `image` (a recipe name or any local image).

    Raises:
        SandboxUnavailable: a recipe's image is not built yet (says which command builds it).
        SandboxConfigError: `image` is neither a recipe nor present locally (phalanx never pulls).
    """
    import docker.errors

    recipe = RECIPES.get(image)
    ref = recipe.tag if recipe else image
    try:
        client.images.get(ref)
    except docker.errors.ImageNotFound:
        if recipe:
            raise SandboxUnavailable(
                f"sandbox image {image!r} ({ref}) is not built; run `phalanx sandbox build-image --name {image}`"
            ) from None
        raise SandboxConfigError(
            f"unknown sandbox image {image!r}: not a phalanx recipe ({', '.join(RECIPES)}) and not present "
            f"locally; phalanx never pulls, so `docker pull {image}` or build it first"
        ) from None
    except docker.errors.APIError as exc:
        raise SandboxUnavailable(f"docker could not look up image {ref!r}: {exc.explanation or exc}") from exc
    return ref


def image_is_current(client: Any, name: str) -> bool:
    """True when the image of recipe `name` exists with its current hash."""
    import docker.errors

    try:
        client.images.get(RECIPES[name].tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def build_image(
    client: Any,
    name: str,
    *,
    force: bool = False,
    mirror: str | None = None,
    log: Callable[[str], None] = lambda _msg: None,
) -> str:
    """Build recipe `name` offline (debootstrap + `docker import`) unless it is current; return its tag.

    Raises:
        SandboxConfigError: unknown recipe name.
        SandboxUnavailable: not root, debootstrap missing, or the build failed (with its log tail).
    """
    if name not in RECIPES:
        raise SandboxConfigError(f"unknown image recipe {name!r}; known: {', '.join(RECIPES)}")
    recipe = RECIPES[name]
    if not force and image_is_current(client, name):
        log(f"{recipe.tag} is current")
        return recipe.tag
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    tarball = cache / f"{recipe.name}-{recipe.digest}.tar"
    with open(cache / f"{recipe.name}.lock", "w") as lock:
        # Two processes (CI set-up and a test run) may build at once: the second waits, then reuses.
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not force and image_is_current(client, name):
            return recipe.tag
        if force or not tarball.exists():
            _debootstrap(recipe, tarball, mirror or os.environ.get("PHALANX_DEBIAN_MIRROR"), log)
        log(f"importing {recipe.tag}")
        repo, tag = recipe.tag.split(":")
        client.api.import_image_from_file(
            str(tarball),
            repository=repo,
            tag=tag,
            changes=[
                "ENV PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8",
                f"LABEL phalanx.recipe={recipe.name} phalanx.recipe_digest={recipe.digest}",
                'CMD ["python3"]',
            ],
        )
    if not image_is_current(client, name):
        raise SandboxUnavailable(f"docker import of {recipe.tag} reported success but the image is missing")
    log(f"built {recipe.tag}")
    return recipe.tag


def _debootstrap(recipe: ImageRecipe, tarball: Path, mirror: str | None, log: Callable[[str], None]) -> None:
    if os.geteuid() != 0:
        raise SandboxUnavailable(
            "building a sandbox image needs root (debootstrap); run it as root or with sudo"
        )
    if shutil.which("debootstrap") is None:
        raise SandboxUnavailable("debootstrap is not installed; `apt-get install debootstrap`, then retry")
    with tempfile.TemporaryDirectory(prefix="phalanx-rootfs-") as tmp:
        root = Path(tmp) / "root"
        cmd = [
            "debootstrap",
            f"--variant={recipe.variant}",
            f"--include={','.join(recipe.packages)}",
            recipe.suite,
            str(root),
        ]
        if mirror:
            cmd.append(mirror)
        log(f"debootstrap {recipe.suite} with {', '.join(recipe.packages)} (about a minute)")
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr)[-1500:]
            raise SandboxUnavailable(f"debootstrap failed (exit {proc.returncode}):\n{tail}")
        # Package caches are not needed at run time; they only make the image bigger.
        for sub in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for entry in (root / sub).glob("*"):
                if entry.is_file():
                    entry.unlink()
        partial = tarball.with_suffix(".partial")
        subprocess.run(["tar", "-C", str(root), "-cf", str(partial), "."], check=True)
        partial.replace(tarball)
