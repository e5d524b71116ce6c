"""What an `hf:` target names: a checkpoint directory, a GGUF file, or a model-store name."""

from __future__ import annotations

from pathlib import Path

from phalanx.models.errors import ModelSpecError
from phalanx.models.store.cache import resolve
from phalanx.models.store.registry import KNOWN_MODELS, NAME_PATTERN


def is_store_name(spec: str, home: Path | None = None) -> bool:
    """True when `spec` (a bare model spec, no scheme) names a known or installed store model."""
    name = spec.partition("?")[0]
    return NAME_PATTERN.fullmatch(name) is not None and (
        name in KNOWN_MODELS or resolve(name, home) is not None
    )


def resolve_hf_target(path: Path, home: Path | None = None) -> tuple[Path, str | None]:
    """Map an `hf:` target onto (directory to load from, GGUF file name in it or None).

    * `FILE.gguf`, or a directory without `config.json` that holds exactly one `.gguf`:
      that GGUF file (transformers dequantizes it in memory).
    * a store name that is not a local path: the installed entry's directory.
    * anything else: unchanged (a checkpoint directory or a Hugging Face cache id).

    Raises:
        ModelSpecError: a missing `.gguf` file, a directory with several GGUF files, or a
            known model that is not installed (the message says how to install it).
    """
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ModelSpecError(f"GGUF file {path} does not exist")
        return path.parent, path.name
    if path.is_dir():
        if not (path / "config.json").is_file():
            ggufs = sorted(p.name for p in path.glob("*.gguf"))
            if len(ggufs) == 1:
                return path, ggufs[0]
            if ggufs:
                raise ModelSpecError(
                    f"{path} holds {len(ggufs)} GGUF files ({', '.join(ggufs)}); pass one as hf:{path}/FILE.gguf"
                )
        return path, None
    name = str(path)
    if path.exists() or not NAME_PATTERN.fullmatch(name):
        return path, None
    installed = resolve(name, home)
    if installed is not None:
        return installed, None
    if name in KNOWN_MODELS:
        raise ModelSpecError(
            f"model {name!r} is not installed; run `phalanx models pull {name}` "
            f"(downloads {KNOWN_MODELS[name].download_bytes / 1e6:.0f} MB once, then works offline)"
        )
    return path, None
