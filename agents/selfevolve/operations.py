"""The six reframing operations (eight modes): what each asks for and how its output becomes an instance.

Grouping and semantics follow methods.md Part B §2 (Self-Evolving Benchmark): question
alternating/complicating change the question and answer; paraphrasing and noising change the
context and keep the answer; polarity reversing changes the context and the answer; the three
sub-ability probes ask a new question that contains the original one and are later evaluated as
an A/B choice against a generated wrong option.
"""

from __future__ import annotations

from dataclasses import dataclass

from phalanx.agents.selfevolve.outputs import (
    AgentOutput,
    ContextAnswerOutput,
    ContextOutput,
    QuestionAnswerOutput,
)
from phalanx.agents.selfevolve.types import Instance, Mode

TASK_DESCRIPTIONS = {
    # the official code's task descriptions (task_description_dict), plus phalanx's generic fallback
    "arithmetic": "Mathematical Reasoning Task",
    "kinship": "Kinship Reasoning Task",
    "boolean": "Reading Comprehension Task",
    "commonsense": "Commonsense Reasoning Task",
    "generic": "Question Answering Task",
}

YES_NO_TASKS = ("boolean", "commonsense")
"""Task families whose answers are yes / no (BoolQ, StrategyQA)."""

OPERATION_NAMES = {
    Mode.ALTERNATIVE: "question alternating",
    Mode.COMPLEX: "question complicating",
    Mode.PARAPHRASE: "context paraphrasing",
    Mode.NOISE: "context noising",
    Mode.POLARITY: "polarity reversing",
    Mode.PLANNING: "sub-ability probing: task planning",
    Mode.KNOWLEDGE: "sub-ability probing: implicit knowledge",
    Mode.RETRIEVAL: "sub-ability probing: relevant context retrieval",
}


@dataclass(frozen=True)
class Operation:
    """How one mode is asked for and applied."""

    mode: Mode
    schema: type[AgentOutput]
    """The pydantic schema the generator's reply must validate against."""

    @property
    def template(self) -> str:
        return self.mode.value

    def apply(self, original: Instance, out: AgentOutput) -> Instance:
        """The evolved instance built from the original and the validated generator output."""
        new = original.model_copy()
        new.id = f"{original.id}:{self.mode.value}"
        if isinstance(out, ContextOutput):
            new.context = out.new_context
        elif isinstance(out, ContextAnswerOutput):
            new.context, new.answer = out.new_context, out.new_answer
        elif isinstance(out, QuestionAnswerOutput):
            new.question, new.answer = out.new_question, out.new_answer
        return new

    def check(self, original: Instance, evolved: Instance) -> str | None:
        """A reason the generated instance breaks the operation's contract, or None."""
        if self.mode in (Mode.PARAPHRASE, Mode.NOISE) and evolved.context.strip() == original.context.strip():
            return "context unchanged"
        if self.mode == Mode.POLARITY and normalise(evolved.answer) == normalise(original.answer):
            return "answer unchanged by polarity reversing"
        if (
            self.mode in (Mode.ALTERNATIVE, Mode.COMPLEX)
            and evolved.question.strip() == original.question.strip()
        ):
            return "question unchanged"
        if original.task in YES_NO_TASKS and not self.mode.is_sub_ability:
            if normalise(evolved.answer) not in ("yes", "no"):
                return "Answer type error (a yes/no task needs a yes/no answer)"
        return None


OPERATIONS: dict[Mode, Operation] = {
    Mode.PARAPHRASE: Operation(Mode.PARAPHRASE, ContextOutput),
    Mode.NOISE: Operation(Mode.NOISE, ContextOutput),
    Mode.POLARITY: Operation(Mode.POLARITY, ContextAnswerOutput),
    Mode.ALTERNATIVE: Operation(Mode.ALTERNATIVE, QuestionAnswerOutput),
    Mode.COMPLEX: Operation(Mode.COMPLEX, QuestionAnswerOutput),
    Mode.PLANNING: Operation(Mode.PLANNING, QuestionAnswerOutput),
    Mode.KNOWLEDGE: Operation(Mode.KNOWLEDGE, QuestionAnswerOutput),
    Mode.RETRIEVAL: Operation(Mode.RETRIEVAL, QuestionAnswerOutput),
}


def normalise(text: str) -> str:
    """Lower-case, drop punctuation and articles, collapse spaces (for answer comparison)."""
    import re

    t = re.sub(r"[^\w\s.-]", " ", text.lower()).replace("-", " ")
    t = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", t)
    t = re.sub(r"\b(a|an|the)\b", " ", t)
    return " ".join(t.split())


def flip_yes_no(answer: str) -> str | None:
    """The flipped boolean answer (`yes` <-> `no`), or None if the answer is not boolean."""
    n = normalise(answer)
    return {"yes": "no", "no": "yes"}.get(n)
