"""HAG's decoding configuration: the JSON a model writes in stage 1, validated and clamped.

HAG (Wang et al. 2024, "LLM can Achieve Self-Regulation via Hyperparameter Aware
Generation") lets the model choose its own decoding hyperparameters for each input
before answering. No official code exists; this is phalanx's serialization.

Stage 1 output format (one JSON object, every key required):

    {"strategy": "greedy" | "sample", "temperature": 0.7, "top_p": 0.9, "top_k": 40,
     "repetition_penalty": 1.1, "max_new_tokens": 256}

Numbers outside their range are clamped into it (`BOUNDS`); anything else that is
wrong — not JSON, a missing key, a value that is not a number, an unknown strategy —
makes the node use `FALLBACK_CONFIG` (greedy, no penalties, 256 tokens: the "default
hyperparameters" baseline of the paper) and record why.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from phalanx.models.grammar import pydantic_schema
from phalanx.models.toolparse import first_json_object
from phalanx.models.types import GenerationConfig

BOUNDS: dict[str, tuple[float, float]] = {
    "temperature": (0.0, 2.0),
    "top_p": (0.05, 1.0),
    "top_k": (0, 200),
    "repetition_penalty": (1.0, 2.0),
    "max_new_tokens": (1, 4096),
}
"""Inclusive range each number is clamped into."""

INSTRUCTION = (
    "Before answering, choose the decoding settings for the request below. Reply with one JSON object: "
    '{"strategy": "greedy" or "sample", "temperature": 0-2, "top_p": 0-1, "top_k": 0-200, '
    '"repetition_penalty": 1-2, "max_new_tokens": 1-4096}. Use greedy decoding for facts, code and '
    "arithmetic; sample with a higher temperature for creative writing; give short answers few tokens."
)
"""The stage-1 system message (a HAG-tuned checkpoint may record its own)."""


class HagConfig(BaseModel):
    """A decoding configuration chosen by the model (the stage-1 JSON)."""

    model_config = ConfigDict(extra="ignore")

    strategy: Literal["greedy", "sample"]
    """`greedy` decodes deterministically (temperature, top_p, top_k unused); `sample` samples."""
    temperature: float
    """Sampling temperature, clamped to [0, 2]."""
    top_p: float
    """Nucleus mass, clamped to [0.05, 1]."""
    top_k: int
    """Keep the k likeliest tokens (0 = off), clamped to [0, 200]."""
    repetition_penalty: float
    """Penalty on repeated tokens (1 = off), clamped to [1, 2]."""
    max_new_tokens: int
    """Answer length limit, clamped to [1, 4096] (and to the caller's limit)."""

    @field_validator("temperature", "top_p", "top_k", "repetition_penalty", "max_new_tokens", mode="after")
    @classmethod
    def _clamp(cls, value: float, info: Any) -> float:
        low, high = BOUNDS[info.field_name]
        return type(value)(min(max(value, low), high))

    def generation_config(self, caller: GenerationConfig | None = None) -> GenerationConfig:
        """The stage-2 `GenerationConfig`; the caller's config keeps its stops and seed and caps the length."""
        base = caller or GenerationConfig()
        sample = self.strategy == "sample" and self.temperature > 0
        limit = min(self.max_new_tokens, caller.max_new_tokens) if caller is not None else self.max_new_tokens
        return base.model_copy(
            update={
                "temperature": self.temperature if sample else 0.0,
                "top_p": self.top_p if sample else 1.0,
                "top_k": self.top_k if sample else 0,
                "repetition_penalty": self.repetition_penalty,
                "max_new_tokens": limit,
                "do_sample": sample,
            }
        )


FALLBACK_CONFIG = HagConfig(
    strategy="greedy", temperature=0.0, top_p=1.0, top_k=0, repetition_penalty=1.0, max_new_tokens=256
)
"""Used when stage 1 produces no valid configuration."""

SCHEMA: dict[str, Any] = pydantic_schema(HagConfig)
"""The JSON schema stage 1 is constrained to (types only: ranges are clamped, not refused)."""


class HagChoice(BaseModel):
    """What stage 1 decided, as recorded on the reply (`details["hag"]`) and shown to listeners."""

    config: HagConfig
    source: Literal["model", "fallback"]
    """`model`: the model's own configuration (possibly clamped); `fallback`: `FALLBACK_CONFIG`."""
    problem: str | None = None
    """Why the fallback was taken, or which values were clamped."""
    raw: str = ""
    """Stage 1's text, as produced."""


def parse_choice(text: str, fallback: HagConfig = FALLBACK_CONFIG) -> HagChoice:
    """Validate stage 1's text into a `HagChoice` (clamped, or the fallback with the reason)."""
    body = first_json_object(text) or text
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        return HagChoice(config=fallback, source="fallback", problem=f"not JSON: {exc}", raw=text)
    if not isinstance(data, dict):
        return HagChoice(config=fallback, source="fallback", problem="not a JSON object", raw=text)
    try:
        config = HagConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"])) or "object"
        return HagChoice(config=fallback, source="fallback", problem=f"{where}: {first['msg']}", raw=text)
    clamped = [k for k, (low, high) in BOUNDS.items() if not low <= float(data[k]) <= high]
    problem = f"clamped {', '.join(clamped)}" if clamped else None
    return HagChoice(config=config, source="model", problem=problem, raw=text)
