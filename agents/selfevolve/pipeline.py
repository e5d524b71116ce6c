"""The agents of one evolution: pre-filter, generator, verifier, option generator, second verification.

Follows methods.md Part B §2 "Agents / pipeline": an instance is kept only when the verifier
accepts the evolved answer AND rejects a generated wrong option (the "high confidence" step).
Failures are returned too, with the official causes: `Problem error: Original question failed`,
`Generator error: ...`, `Verify error 1` (verifier rejects the evolved answer), `Verify error 2`
(verifier accepts the wrong option). Every agent reply is validated against a pydantic schema;
an invalid reply is re-asked at most `max_reasks` times with the validation error.
"""

from __future__ import annotations

import json
from typing import TypeVar

from pydantic import BaseModel, Field, ValidationError

from phalanx.agents.selfevolve.operations import (
    OPERATION_NAMES,
    OPERATIONS,
    TASK_DESCRIPTIONS,
    flip_yes_no,
    normalise,
)
from phalanx.agents.selfevolve.outputs import (
    AgentOutput,
    AnswerOutput,
    OptionOutput,
    VerdictOutput,
    extract_json_object,
)
from phalanx.agents.selfevolve.prompts import PromptLibrary
from phalanx.agents.selfevolve.scoring import score_reply
from phalanx.agents.selfevolve.types import EvolvedInstance, Instance, Mode, Verdict
from phalanx.models import ChatModel, GenerationConfig, Message
from phalanx.models.grammar import pydantic_schema

T = TypeVar("T", bound=AgentOutput)

SYSTEM = "You build evaluation data carefully. Reply with exactly one JSON object and nothing else."
PREFILTER_FAILED = "Problem error: Original question failed"
VERIFY_ERROR_1 = "Verify error 1"
VERIFY_ERROR_2 = "Verify error 2"


class AgentReplyError(Exception):
    """An agent kept replying with output that does not validate, after all re-asks."""

    def __init__(self, role: str, attempts: int, detail: str) -> None:
        super().__init__(f"{role}: invalid output after {attempts} attempt(s): {detail}")
        self.role = role


class EvolveSettings(BaseModel):
    """Options of an evolution run."""

    max_reasks: int = Field(2, ge=0, le=10)
    """How many times an agent is asked again after a reply that fails its schema."""
    prefilter: bool = True
    """Evolve only originals the generator answers correctly (the paper's pre-filter)."""
    max_new_tokens: int = Field(512, ge=1)
    """Token budget of each agent reply."""
    temperature: float = Field(0.0, ge=0.0)
    """Agents decode greedily by default, as the official code does (temperature 0)."""


def _instance_json(context: str, question: str, answer: str) -> str:
    return json.dumps(
        {"context": context, "question": question, "answer": answer}, indent=2, ensure_ascii=False
    )


class EvolvePipeline:
    """Runs the agents for one (instance, mode) pair; stateless apart from its models and prompts."""

    def __init__(
        self,
        generator: ChatModel,
        verifier: ChatModel,
        *,
        prompts: PromptLibrary | None = None,
        settings: EvolveSettings | None = None,
    ) -> None:
        self.generator = generator
        self.verifier = verifier
        self.prompts = prompts or PromptLibrary()
        self.settings = settings or EvolveSettings()
        self.config = GenerationConfig(
            max_new_tokens=self.settings.max_new_tokens, temperature=self.settings.temperature
        )

    # -- one validated agent call ---------------------------------------------------------------
    async def ask(self, model: ChatModel, role: str, prompt: str, schema: type[T]) -> T:
        """Ask `model` and validate its reply against `schema`, re-asking on invalid output.

        Raises:
            AgentReplyError: still invalid after `max_reasks` re-asks.
        """
        messages = [Message.system(SYSTEM), Message.user(prompt)]
        attempts = self.settings.max_reasks + 1
        detail = ""
        for _ in range(attempts):
            response = await model.chat(messages, config=self.config, json_mode=pydantic_schema(schema))
            text = response.message.content or ""
            try:
                return schema.model_validate(extract_json_object(text))
            except (ValueError, ValidationError) as exc:
                detail = _short(exc) if isinstance(exc, ValidationError) else str(exc).splitlines()[0]
            messages += [
                Message.assistant(text),
                Message.user(
                    f"That reply is not valid: {detail}. Reply again with one JSON object with the fields "
                    f"{', '.join(schema.model_fields)}."
                ),
            ]
        raise AgentReplyError(role, attempts, detail)

    def _render(
        self, inst: Instance, name: str, operation: str, answer: str, mode: Mode | None = None
    ) -> str:
        return self.prompts.render(
            inst.task,
            name,
            task_description=TASK_DESCRIPTIONS.get(inst.task, TASK_DESCRIPTIONS["generic"]),
            operation=operation,
            instance_json=_instance_json(inst.context, inst.question, answer),
            mode=mode.value if mode is not None else "",  # picks the official demonstrations
        )

    # -- agents -------------------------------------------------------------------------------
    async def prefilter(self, inst: Instance) -> bool:
        """Whether the generator answers the original instance correctly (rule-based scoring)."""
        prompt = self._render(inst, "prefilter", "answering", "")
        try:
            out = await self.ask(self.generator, "pre-filter", prompt, AnswerOutput)
        except AgentReplyError:
            return False
        return score_reply(out.answer, inst.answer)

    async def verify(self, inst: Instance, answer: str, mode: Mode | None = None) -> Verdict:
        """The verifier's yes/no verdict on `answer` for the instance's context and question."""
        prompt = self._render(inst, "verifier", "answer verification", answer, mode)
        out = await self.ask(self.verifier, "verifier", prompt, VerdictOutput)
        return Verdict(judgement=out.judgement, analysis=out.analysis)

    async def wrong_option(self, inst: Instance, mode: Mode | None = None) -> str:
        """A plausible wrong answer; boolean answers are flipped without a model call (official code)."""
        flipped = flip_yes_no(inst.answer)
        if flipped is not None:
            return flipped
        prompt = self._render(inst, "option", "wrong option generation", inst.answer, mode)
        out = await self.ask(self.generator, "option generator", prompt, OptionOutput)
        if normalise(out.option) == normalise(inst.answer):
            raise AgentReplyError("option generator", 1, "the option equals the correct answer")
        return out.option

    def _record(self, original: Instance, mode: Mode, **fields: object) -> EvolvedInstance:
        base: dict[str, object] = dict(
            id=f"{original.id}:{mode.value}",
            parent_id=original.id,
            mode=mode,
            task=original.task,
            generator=self.generator.name,
            verifier=self.verifier.name,
            prompt_version=self.prompts.version,
            original_question=original.question,
            original_answer=original.answer,
        )
        base.update(fields)
        return EvolvedInstance.model_validate(base)

    def prefilter_failure(self, original: Instance, mode: Mode) -> EvolvedInstance:
        """The record written for every mode of an original that failed the pre-filter."""
        return self._record(original, mode, status="fail", cause=PREFILTER_FAILED)

    async def evolve(self, original: Instance, mode: Mode) -> EvolvedInstance:
        """Generate, verify, make a wrong option and double-verify one evolved instance."""
        op = OPERATIONS[mode]
        prompt = self._render(original, op.template, OPERATION_NAMES[mode], original.answer)
        try:
            out = await self.ask(self.generator, "generator", prompt, op.schema)
        except AgentReplyError as exc:
            return self._record(original, mode, status="fail", cause=f"Generator error: {exc}")
        evolved = op.apply(original, out)
        fields = dict(context=evolved.context, question=evolved.question, answer=evolved.answer)
        problem = op.check(original, evolved)
        if problem:
            return self._record(original, mode, status="fail", cause=f"Generator error: {problem}", **fields)
        verdicts: list[Verdict] = []
        try:
            verdicts.append(await self.verify(evolved, evolved.answer, mode))
            if verdicts[0].judgement != "yes":
                return self._record(
                    original, mode, status="fail", cause=VERIFY_ERROR_1, verdicts=verdicts, **fields
                )
            try:
                option = await self.wrong_option(evolved, mode)
            except AgentReplyError as exc:
                return self._record(
                    original, mode, status="fail", cause=f"Option error: {exc}", verdicts=verdicts, **fields
                )
            verdicts.append(await self.verify(evolved, option, mode))
        except AgentReplyError as exc:
            return self._record(
                original, mode, status="fail", cause=f"Verifier error: {exc}", verdicts=verdicts, **fields
            )
        if verdicts[1].judgement != "no":
            return self._record(
                original,
                mode,
                status="fail",
                cause=VERIFY_ERROR_2,
                verdicts=verdicts,
                option=option,
                **fields,
            )
        return self._record(original, mode, status="pass", verdicts=verdicts, option=option, **fields)


def _short(exc: ValidationError) -> str:
    errs = exc.errors()
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'reply'}: {e['msg']}" for e in errs[:3])
