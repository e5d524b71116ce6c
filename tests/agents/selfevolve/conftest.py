"""Fixtures for the self-evolving benchmark tests: scripted agents built from the shipped ones."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import pytest

from phalanx.agents.selfevolve.scripted import generator_reply, verifier_reply
from phalanx.models import Message
from phalanx.models.scripted import ScriptedModel


@pytest.fixture
def generator() -> ScriptedModel:
    return ScriptedModel(generator_reply, name="test-generator")


@pytest.fixture
def verifier() -> ScriptedModel:
    return ScriptedModel(verifier_reply, name="test-verifier")


@pytest.fixture
def make_model() -> Callable[[Callable[[Sequence[Message]], str], str], ScriptedModel]:
    def make(fn: Callable[[Sequence[Message]], str], name: str = "custom") -> ScriptedModel:
        return ScriptedModel(lambda msgs, tools: fn(msgs), name=name)

    return make


def verdict(judgement: str) -> str:
    return json.dumps({"analysis": "checked", "judgement": judgement})
