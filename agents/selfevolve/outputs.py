"""Pydantic schemas of every agent's output, and the JSON extraction they are validated from."""

from __future__ import annotations

import json
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class AgentOutput(BaseModel):
    """Base of agent outputs: extra keys are ignored, text fields are stripped."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class AnswerOutput(AgentOutput):
    """Pre-filter: the generator's own answer to an original instance."""

    reasoning: str = ""
    answer: str = Field(min_length=1)


class ContextOutput(AgentOutput):
    """Paraphrase / noise: a new context with the same answer."""

    new_context: str = Field(min_length=1)


class ContextAnswerOutput(AgentOutput):
    """Polarity reversing: a new context and its (changed) answer."""

    new_context: str = Field(min_length=1)
    analysis: str = ""
    new_answer: str = Field(min_length=1)


class QuestionAnswerOutput(AgentOutput):
    """Question alternating / complicating and the sub-ability probes: a new question and answer."""

    new_question: str = Field(min_length=1)
    analysis: str = ""
    new_answer: str = Field(min_length=1)


class VerdictOutput(AgentOutput):
    """Verifier: is the answer correct for this context and question?"""

    analysis: str = ""
    judgement: Literal["yes", "no"]

    @field_validator("judgement", mode="before")
    @classmethod
    def _lower(cls, v: object) -> object:
        return v.strip().lower().rstrip(".") if isinstance(v, str) else v


class OptionOutput(AgentOutput):
    """Option generator: a plausible wrong answer."""

    option: str = Field(min_length=1)


_FENCE = re.compile(r"```(?:json)?\s*(\{.*?\})\s*```", re.S)


def extract_json_object(text: str) -> dict:
    """The first JSON object in a reply (inside a ```json fence or bare).

    Raises:
        ValueError: no JSON object can be decoded; the message says what was seen.
    """
    m = _FENCE.search(text)
    candidates = [m.group(1)] if m else []
    start = text.find("{")
    decoder = json.JSONDecoder()
    while start != -1:
        try:
            obj, _ = decoder.raw_decode(text[start:])
        except json.JSONDecodeError:
            start = text.find("{", start + 1)
            continue
        if isinstance(obj, dict):
            candidates.append(json.dumps(obj))
        break
    for c in candidates:
        try:
            obj = json.loads(c)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            return obj
    preview = text.strip().replace("\n", " ")[:80]
    raise ValueError(f"no JSON object found in the reply (starts: {preview!r})")
