"""LongHeads: training-free long context by per-head chunk selection (Lu et al. 2024, arXiv 2402.10685).

`load_model("longheads:SPEC?chunk=256&budget=4096")` loads an `hf:` model with LongHeads
attention; `install_longheads(model, chunk=..., budget=...)` switches a loaded one.
Everything torch-related is imported lazily (this package imports cheaply):
`LongHeadsCache`, `LongHeadsSettings`, `chunk_representations`, `select_chunks`.
"""

from typing import Any

from phalanx.models.longheads.backend import (
    DEFAULT_BUDGET,
    DEFAULT_CHUNK,
    check_settings,
    install_longheads,
    load_longheads_model,
)

__all__ = [
    "DEFAULT_BUDGET",
    "DEFAULT_CHUNK",
    "check_settings",
    "install_longheads",
    "load_longheads_model",
]

_LAZY = {
    "LongHeadsCache": "phalanx.models.longheads.cache",
    "LongHeadsSettings": "phalanx.models.longheads.cache",
    "chunk_representations": "phalanx.models.longheads.cache",
    "select_chunks": "phalanx.models.longheads.attention",
    "ATTENTION_NAME": "phalanx.models.longheads.attention",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'phalanx.models.longheads' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
