"""Value types of the self-evolving benchmark: instances, modes and evolved records.

The eight modes follow the Self-Evolving Benchmark framework (methods.md Part B §2):
five rewrite modes (two that change the question, three that change the context) and
three sub-ability probes evaluated as an A/B choice.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Mode(StrEnum):
    """One reframing mode (six operations, eight modes)."""

    ALTERNATIVE = "alternative"
    """Question alternating: a new question on another aspect of the same context (new answer)."""
    COMPLEX = "complex"
    """Question complicating: a question that needs extra reasoning steps (new answer)."""
    PARAPHRASE = "paraphrase"
    """Context paraphrasing: the context reworded, answer unchanged."""
    NOISE = "noise"
    """Context noising: irrelevant facts inserted, answer unchanged."""
    POLARITY = "polarity"
    """Polarity reversing: key details of the context changed so the answer changes."""
    PLANNING = "planning"
    """Sub-ability probe: the reasoning steps that solve the original instance."""
    KNOWLEDGE = "knowledge"
    """Sub-ability probe: the implicit knowledge (rules, facts) the instance needs."""
    RETRIEVAL = "retrieval"
    """Sub-ability probe: the pieces of the context the instance needs."""

    @property
    def group(self) -> Literal["scalable", "robust", "fine-grained"]:
        """The paper's evaluation group of this mode."""
        if self in (Mode.ALTERNATIVE, Mode.COMPLEX):
            return "scalable"
        if self in (Mode.PARAPHRASE, Mode.NOISE, Mode.POLARITY):
            return "robust"
        return "fine-grained"

    @property
    def is_sub_ability(self) -> bool:
        """Whether this mode is evaluated as an A/B choice against a wrong option."""
        return self.group == "fine-grained"


ALL_MODES: tuple[Mode, ...] = tuple(Mode)

MODE_ALIASES: dict[str, Mode] = {
    # names used by the official code (config.py) and the paper's operation names
    "addnoise": Mode.NOISE,
    "noising": Mode.NOISE,
    "context_noising": Mode.NOISE,
    "reversepolar": Mode.POLARITY,
    "reverse_polarity": Mode.POLARITY,
    "polarity_reversing": Mode.POLARITY,
    "context_paraphrasing": Mode.PARAPHRASE,
    "alternate": Mode.ALTERNATIVE,
    "question_alternating": Mode.ALTERNATIVE,
    "complicate": Mode.COMPLEX,
    "question_complicating": Mode.COMPLEX,
    "plan": Mode.PLANNING,
    "task_planning": Mode.PLANNING,
    "implicit_knowledge": Mode.KNOWLEDGE,
    "context_retrieval": Mode.RETRIEVAL,
}


def parse_modes(text: str | list[str] | None) -> list[Mode]:
    """Parse a comma-separated list of mode names (aliases accepted; `all` = every mode).

    Raises:
        ValueError: an unknown name; the message lists the valid ones.
    """
    if text is None:
        return list(ALL_MODES)
    items = text if isinstance(text, list) else text.split(",")
    out: list[Mode] = []
    for raw in items:
        name = raw.strip().lower().replace("-", "_")
        if not name:
            continue
        if name == "all":
            return list(ALL_MODES)
        mode = MODE_ALIASES.get(name) or (Mode(name) if name in Mode._value2member_map_ else None)
        if mode is None:
            raise ValueError(
                f"unknown evolve operation {raw.strip()!r}; choose from {', '.join(m.value for m in Mode)} "
                "(aliases: addnoise, reversepolar, ...) or 'all'"
            )
        if mode not in out:
            out.append(mode)
    if not out:
        raise ValueError("no evolve operation given; pass e.g. --ops paraphrase,noise or --ops all")
    return out


class Instance(BaseModel):
    """One benchmark instance: a context, a question about it and its answer."""

    model_config = ConfigDict(extra="forbid")

    id: str
    """Unique id within the dataset."""
    context: str = ""
    """Background text (story, passage, problem statement); may be empty."""
    question: str
    """What is asked."""
    answer: str
    """The reference answer (numbers as text, `yes`/`no` for boolean tasks)."""
    task: str = "generic"
    """Task family (`kinship`, `arithmetic`, `boolean`, `generic`); selects task-specific prompts."""


Status = Literal["pass", "fail"]


class Verdict(BaseModel):
    """What a verifier said about one (context, question, answer) triple."""

    judgement: Literal["yes", "no"]
    """The verifier's yes/no decision: is this answer correct?"""
    analysis: str = ""
    """Its one-line reasoning."""


class EvolvedInstance(BaseModel):
    """One evolved instance with its provenance, as written to `evolved.jsonl`.

    Failed attempts are written too (status `fail` with a `cause`), as in the
    official data files, so nothing done is lost and drop-out rates can be studied.
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    """`<parent_id>:<mode>`."""
    parent_id: str
    """Id of the original instance."""
    mode: Mode
    status: Status
    cause: str = ""
    """Why it failed: `Problem error: Original question failed`, `Generator error: ...`,
    `Verify error 1` (verifier rejects the evolved answer), `Verify error 2` (verifier accepts
    the wrong option), `Option error: ...`."""
    context: str = ""
    question: str = ""
    answer: str = ""
    option: str = ""
    """A plausible wrong answer (the second A/B choice for sub-ability modes)."""
    task: str = "generic"
    generator: str = ""
    """Name of the generator model."""
    verifier: str = ""
    """Name of the verifier model."""
    prompt_version: str = ""
    """Version of the prompt templates used (e.g. `v1`, or `v1+custom:<hash>` when overridden)."""
    verdicts: list[Verdict] = Field(default_factory=list)
    """Verifier verdicts in order: on the evolved answer, then on the wrong option."""
    original_question: str = ""
    """The parent's question (kept for sub-ability modes, as in the official data)."""
    original_answer: str = ""

    @property
    def key(self) -> tuple[str, str]:
        """(parent id, mode): what makes a record a duplicate."""
        return (self.parent_id, self.mode.value)
