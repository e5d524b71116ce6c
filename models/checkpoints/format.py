"""On-disk format of phalanx checkpoints (R³ policies, region-frozen models, HAG-tuned models).

A checkpoint is a directory:

    phalanx-checkpoint.json   the manifest (written last; its presence means "complete")
    config.json, model.safetensors (or shards + index), generation_config.json
                              the weights, as transformers' `save_pretrained` writes them
    tokenizer.json, tokenizer_config.json, ...
                              the tokenizer, as `save_pretrained` writes it
    <format files>            e.g. `region_mask.safetensors` for `phalanx.regions`

The manifest (`Manifest`) is JSON:

    {"format": "phalanx.regions", "version": 1, "base_model": "smollm2-135m-instruct",
     "files": {"model.safetensors": {"bytes": 538090408, "sha256": "…"}, …},
     "extras": {…format-specific, validated by that format's loader…}}

Formats and their `extras`: `phalanx.r3` (`prompt_format`: the policy's prompt template
and answer pattern; value head stripped from the weights), `phalanx.regions` (`region`:
how the mask was made; the mask itself in `region_mask.safetensors`), `phalanx.hag`
(`hag`: the stage-1 instruction and fallback configuration the model was tuned with).

`save_checkpoint` writes one (trainers call it through each format's `save_*`);
`read_checkpoint` checks it before anything is loaded: manifest present and valid,
format and version known, every listed file present with its recorded size and SHA-256.
Each problem raises `CheckpointError` naming the file and what is wrong.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, Field, ValidationError

from phalanx.models.errors import CheckpointError, ModelUnavailable

ModelT = TypeVar("ModelT", bound=BaseModel)

MANIFEST = "phalanx-checkpoint.json"
FORMATS: dict[str, int] = {"phalanx.r3": 1, "phalanx.regions": 1, "phalanx.hag": 1}
"""Known formats and the newest version of each this phalanx reads."""
SCHEMES = {"phalanx.r3": "r3", "phalanx.regions": "regions", "phalanx.hag": "hag"}
"""The `load_model` scheme of each format (named in errors)."""


class FileEntry(BaseModel):
    """Size and digest of one file of a checkpoint."""

    bytes: int
    sha256: str


class Manifest(BaseModel):
    """`phalanx-checkpoint.json`: what the directory holds and how to check it."""

    format: str
    """`phalanx.r3`, `phalanx.regions` or `phalanx.hag`."""
    version: int = Field(ge=1)
    """Format version; a reader refuses versions newer than it knows."""
    base_model: str | None = None
    """What the weights were trained from (informational)."""
    files: dict[str, FileEntry]
    """Every file of the checkpoint except the manifest, relative to the directory."""
    extras: dict[str, Any] = Field(default_factory=dict)
    """Format-specific settings (see the module docstring)."""


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_checkpoint(
    directory: str | Path,
    *,
    model: Any,
    tokenizer: Any,
    format: str,
    extras: dict[str, Any],
    base_model: str | None = None,
    state_dict: dict[str, Any] | None = None,
    extra_files: dict[str, Callable[[Path], None]] | None = None,
) -> Path:
    """Write a checkpoint: weights, tokenizer, format files, then the manifest.

    Args:
        directory: created if missing; an existing manifest there is replaced, and every
            file already there is listed too (save into a fresh directory).
        model: a transformers `PreTrainedModel` (`save_pretrained` writes it).
        tokenizer: its tokenizer.
        format: one of `FORMATS`.
        extras: the format's settings (already validated by the caller).
        base_model: recorded as `base_model`.
        state_dict: weights to save instead of `model.state_dict()` (e.g. without a value head).
        extra_files: name -> function writing that file at the given path.

    Returns:
        The directory.
    """
    if format not in FORMATS:
        raise CheckpointError(f"unknown checkpoint format {format!r}; known: {', '.join(sorted(FORMATS))}")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST).unlink(missing_ok=True)  # no manifest while the directory is half written
    model.save_pretrained(out, state_dict=state_dict)
    tokenizer.save_pretrained(out)
    for name, write in (extra_files or {}).items():
        write(out / name)
    files = {
        p.relative_to(out).as_posix(): FileEntry(bytes=p.stat().st_size, sha256=sha256_file(p))
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }
    manifest = Manifest(
        format=format, version=FORMATS[format], base_model=base_model, files=files, extras=extras
    )
    partial = out / (MANIFEST + ".partial")
    partial.write_text(manifest.model_dump_json(indent=2))
    os.replace(partial, out / MANIFEST)
    return out


def read_checkpoint(directory: str | Path, format: str) -> Manifest:
    """Check a checkpoint directory of `format` and return its manifest.

    Raises:
        CheckpointError: no such directory or manifest, a manifest that is not valid JSON
            or lacks fields, another or a newer format, or a listed file that is missing,
            of another size, or of another SHA-256.
    """
    root = Path(directory).expanduser()
    scheme = SCHEMES.get(format, format)
    if not root.is_dir():
        raise CheckpointError(f"{scheme}: checkpoint directory {root} does not exist")
    path = root / MANIFEST
    if not path.is_file():
        raise CheckpointError(
            f"{path}: missing; {root} is not a phalanx checkpoint (trainers write it with "
            f"phalanx.models.checkpoints.save_*; a plain model directory loads with hf:)"
        )
    try:
        manifest = Manifest.model_validate(json.loads(path.read_text()))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: not valid JSON ({exc}); the checkpoint is damaged") from exc
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise CheckpointError(f"{path}: not a phalanx manifest ({problems})") from exc
    if manifest.format != format:
        hint = f"; load it with {SCHEMES[manifest.format]}:" if manifest.format in SCHEMES else ""
        raise CheckpointError(f"{path}: format is {manifest.format!r}, expected {format!r}{hint}")
    if manifest.version > FORMATS[format]:
        raise CheckpointError(
            f"{path}: {format} version {manifest.version} is newer than this phalanx reads "
            f"({FORMATS[format]}); upgrade phalanx"
        )
    for name, entry in manifest.files.items():
        file = root / name
        if not file.is_file():
            raise CheckpointError(f"{file}: listed in {MANIFEST} but missing")
        size = file.stat().st_size
        if size != entry.bytes:
            raise CheckpointError(
                f"{file}: {size} bytes, {MANIFEST} says {entry.bytes} (truncated or replaced)"
            )
        if sha256_file(file) != entry.sha256:
            raise CheckpointError(f"{file}: contents differ from the SHA-256 in {MANIFEST} (corrupted)")
    return manifest


def weight_names(directory: Path) -> dict[str, list[str]]:
    """Tensor names of every safetensors weight file in a checkpoint (headers only)."""
    from safetensors import safe_open

    names: dict[str, list[str]] = {}
    for file in sorted(directory.glob("*.safetensors")):
        try:
            with safe_open(str(file), framework="pt") as handle:
                names[file.name] = list(handle.keys())
        except Exception as exc:  # safetensors raises its own error types for bad headers
            raise CheckpointError(f"{file}: not a readable safetensors file ({exc})") from exc
    return names


class OpenedCheckpoint(BaseModel):
    """A verified checkpoint loaded into memory (what the `r3:`/`regions:`/`hag:` loaders build on)."""

    model_config = {"arbitrary_types_allowed": True}

    path: Path
    manifest: Manifest
    model: Any
    tokenizer: Any
    chat_options: dict[str, Any]
    """`HFChatModel` constructor options from the spec's `hf:` options."""

    def extras(self, key: str, schema: type[ModelT]) -> ModelT:
        """`manifest.extras[key]` validated as `schema` (missing: its defaults).

        Raises:
            CheckpointError: naming the manifest and the offending field.
        """
        try:
            return schema.model_validate(self.manifest.extras.get(key, {}))
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(map(str, (key, *problem["loc"])))
            raise CheckpointError(f"{self.path / MANIFEST}: extras.{where}: {problem['msg']}") from exc


def open_checkpoint(target: str, format: str) -> OpenedCheckpoint:
    """Verify and load the checkpoint named by `PATH?hf-options` (the part of a spec after the colon).

    Raises:
        CheckpointError: see `read_checkpoint`, or weights transformers cannot load.
        ModelSpecError: an unknown or bad `hf:` option.
    """
    from phalanx.models.hf import load_pretrained
    from phalanx.models.hf_options import hf_options, split_options

    scheme = SCHEMES[format]
    spec, options = split_options(target)
    load, chat = hf_options(options, target, scheme=scheme)
    root = Path(spec).expanduser()
    manifest = read_checkpoint(root, format)
    try:
        model, tokenizer = load_pretrained(root, **load)
    except (CheckpointError, ModelUnavailable):
        raise
    except Exception as exc:  # transformers/safetensors errors on weights that passed the checks
        raise CheckpointError(f"{root}: transformers cannot load the weights ({exc})") from exc
    chat.setdefault("name", f"{scheme}:{spec}")
    return OpenedCheckpoint(path=root, manifest=manifest, model=model, tokenizer=tokenizer, chat_options=chat)


def verify_checkpoint(directory: str | Path) -> Manifest:
    """Check a checkpoint of whatever format its manifest names (`phalanx models check`).

    Raises:
        CheckpointError: as `read_checkpoint`, or a format this phalanx does not know.
    """
    path = Path(directory).expanduser() / MANIFEST
    try:
        named = json.loads(path.read_text()).get("format")
    except (OSError, json.JSONDecodeError, AttributeError, UnicodeDecodeError):
        named = None  # read_checkpoint reports what is wrong with the file
    if named is not None and named not in FORMATS:
        raise CheckpointError(f"{path}: unknown format {named!r}; known: {', '.join(sorted(FORMATS))}")
    return read_checkpoint(directory, named or "phalanx.r3")
