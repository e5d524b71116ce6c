"""Options of `hf:` specs (`hf:DIR?device=cpu&dtype=auto&...`), shared by every scheme built on `hf:`.

`longheads:`, `hag:`, `r3:` and `regions:` take the same options after their own, so a
checkpoint loads on the device and in the dtype the caller asks for.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from phalanx.models.errors import ModelSpecError

DTYPES = ("auto", "float32", "bfloat16", "float16")
"""Values of the `dtype` option."""


HF_OPTIONS = frozenset(
    {"device", "dtype", "window_ms", "max_batch", "name", "prefix_cache_mb", "engine", "constrain"}
)
"""Options every `hf:`-based scheme accepts after `?`."""


def split_options(target: str) -> tuple[str, dict[str, str]]:
    """`PATH?k=v&...` -> `(PATH, {k: v})`; a bare `?` without `=` stays part of the path."""
    head, sep, query = target.rpartition("?")
    if sep and "=" in query:
        return head, dict(parse_qsl(query, keep_blank_values=True))
    return target, {}


def hf_options(
    options: dict[str, str], target: str, scheme: str = "hf"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check `hf:` options; returns `(load, chat)` keyword arguments.

    `load` holds `device` and `dtype` (for `load_pretrained`), `chat` the `HFChatModel`
    constructor's options.

    Raises:
        ModelSpecError: an unknown option or a bad value (the message names it).
    """
    unknown = set(options) - HF_OPTIONS
    if unknown:
        raise ModelSpecError(
            f"unknown {scheme}: option(s) {sorted(unknown)} in {target!r}; known: {sorted(HF_OPTIONS)}"
        )
    kwargs: dict[str, Any] = {}
    try:
        if "window_ms" in options:
            kwargs["window_s"] = float(options["window_ms"]) / 1000
        if "max_batch" in options:
            kwargs["max_batch_size"] = int(options["max_batch"])
        if "prefix_cache_mb" in options:
            kwargs["prefix_cache_mb"] = int(options["prefix_cache_mb"])
    except ValueError as exc:
        raise ModelSpecError(f"bad number in {scheme}: options of {target!r}: {exc}") from exc
    if kwargs.get("max_batch_size", 1) < 1 or kwargs.get("window_s", 0) < 0:
        raise ModelSpecError(f"{scheme}: options of {target!r}: max_batch must be >= 1 and window_ms >= 0")
    if "name" in options:
        kwargs["name"] = options["name"]
    for switch in ("engine", "constrain"):
        if switch in options:
            if options[switch] not in ("on", "off"):
                raise ModelSpecError(f"{scheme}: option {switch} must be on or off, got {options[switch]!r}")
            kwargs[switch] = options[switch] == "on"
    dtype = options.get("dtype") or None
    if dtype is not None and dtype not in DTYPES:
        raise ModelSpecError(f"{scheme}: option dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    return {"device": options.get("device") or None, "dtype": dtype or "auto"}, kwargs
