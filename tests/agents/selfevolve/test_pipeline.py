"""The agents of one evolution with scripted models: every mode, both verify errors, bad JSON."""

from __future__ import annotations

import json

import pytest

from phalanx.agents.selfevolve import (
    PREFILTER_FAILED,
    VERIFY_ERROR_1,
    VERIFY_ERROR_2,
    EvolvePipeline,
    EvolveSettings,
    Instance,
    Mode,
    load_embedded,
)
from phalanx.agents.selfevolve.scripted import generator_reply
from phalanx.agents.selfevolve.solvers import solve_kinship


def _verdict(judgement: str) -> str:
    return json.dumps({"analysis": "checked", "judgement": judgement})


@pytest.mark.parametrize("task", ["kinship", "arithmetic"])
async def test_every_mode_passes_with_provenance(task, generator, verifier) -> None:
    pipeline = EvolvePipeline(generator, verifier)
    original = load_embedded(task, n=5)[4]
    assert await pipeline.prefilter(original)
    for mode in Mode:
        rec = await pipeline.evolve(original, mode)
        assert rec.status == "pass", (mode, rec.cause)
        assert (rec.parent_id, rec.mode, rec.id) == (original.id, mode, f"{original.id}:{mode.value}")
        assert (rec.generator, rec.verifier, rec.prompt_version) == ("test-generator", "test-verifier", "v2")
        assert [v.judgement for v in rec.verdicts] == ["yes", "no"]
        assert rec.option and rec.option != rec.answer
        assert rec.original_question == original.question
        if mode in (Mode.PARAPHRASE, Mode.NOISE):
            assert rec.answer == original.answer and rec.context != original.context
        if mode == Mode.POLARITY:
            assert rec.answer != original.answer
        if task == "kinship" and not mode.is_sub_ability:
            assert solve_kinship(rec.context, rec.question.split(", how")[0]) or mode == Mode.COMPLEX


async def test_verify_error_1_when_verifier_rejects_the_answer(generator, make_model) -> None:
    pipeline = EvolvePipeline(generator, make_model(lambda m: _verdict("No"), "nay"))
    rec = await pipeline.evolve(load_embedded("kinship", n=1)[0], Mode.PARAPHRASE)
    assert (rec.status, rec.cause) == ("fail", VERIFY_ERROR_1)
    assert [v.judgement for v in rec.verdicts] == ["no"]
    assert rec.context  # the failed instance is kept with its content


async def test_verify_error_2_when_verifier_accepts_the_wrong_option(generator, make_model) -> None:
    pipeline = EvolvePipeline(generator, make_model(lambda m: _verdict("yes"), "yea"))
    rec = await pipeline.evolve(load_embedded("arithmetic", n=1)[0], Mode.POLARITY)
    assert (rec.status, rec.cause) == ("fail", VERIFY_ERROR_2)
    assert [v.judgement for v in rec.verdicts] == ["yes", "yes"]
    assert rec.option == str(int(rec.answer) + 1)


async def test_malformed_json_is_reasked_then_accepted(verifier, make_model) -> None:
    replies = iter(["Sure! Here it is: {new_context: oops}", '```json\n{"wrong_field": 1}\n```'])

    def flaky(messages):
        return next(replies, None) or generator_reply(messages)

    gen = make_model(flaky, "flaky")
    pipeline = EvolvePipeline(gen, verifier, settings=EvolveSettings(max_reasks=2))
    rec = await pipeline.evolve(load_embedded("kinship", n=1)[0], Mode.NOISE)
    assert rec.status == "pass", rec.cause
    first = gen.calls[0]
    third = gen.calls[2]
    # the re-ask keeps the conversation and names what was wrong
    assert len(third) == len(first) + 4
    assert "new_context" in (third[-1].content or "") and "not valid" in (third[-1].content or "")


async def test_malformed_json_after_all_reasks_is_a_generator_error(verifier, make_model) -> None:
    gen = make_model(lambda m: "not json at all", "broken")
    pipeline = EvolvePipeline(gen, verifier, settings=EvolveSettings(max_reasks=1))
    rec = await pipeline.evolve(load_embedded("kinship", n=1)[0], Mode.ALTERNATIVE)
    assert rec.status == "fail"
    assert rec.cause.startswith("Generator error: generator: invalid output after 2 attempt(s)")
    assert len(gen.calls) == 2


async def test_bad_verifier_judgement_is_schema_checked(generator, make_model) -> None:
    ver = make_model(lambda m: json.dumps({"judgement": "maybe"}), "unsure")
    rec = await EvolvePipeline(generator, ver, settings=EvolveSettings(max_reasks=0)).evolve(
        load_embedded("kinship", n=1)[0], Mode.PARAPHRASE
    )
    assert rec.status == "fail" and rec.cause.startswith("Verifier error:") and "judgement" in rec.cause


async def test_prefilter_rejects_wrong_answers(make_model, verifier) -> None:
    gen = make_model(lambda m: json.dumps({"reasoning": "", "answer": "aunt"}), "wrong")
    pipeline = EvolvePipeline(gen, verifier)
    inst = next(i for i in load_embedded("kinship", n=20) if i.answer != "aunt")
    assert not await pipeline.prefilter(inst)
    assert pipeline.prefilter_failure(inst, Mode.NOISE).cause == PREFILTER_FAILED


async def test_boolean_option_is_flipped_without_a_model_call(make_model) -> None:
    inst = Instance(
        id="b1", context="The sky is blue.", question="Is the sky blue?", answer="yes", task="boolean"
    )
    gen = make_model(
        lambda m: json.dumps({"new_question": "Is the sky green?", "analysis": "", "new_answer": "no"}), "g"
    )
    seen: list[str] = []

    def ver_fn(messages):
        block = json.loads(messages[-1].content.split("```json")[1].split("```")[0])
        seen.append(block["answer"])
        return _verdict("yes" if block["answer"] == "no" else "no")

    rec = await EvolvePipeline(gen, make_model(ver_fn, "v")).evolve(inst, Mode.ALTERNATIVE)
    assert rec.status == "pass" and rec.option == "yes"
    assert len(gen.calls) == 1 and seen == ["no", "yes"]


async def test_boolean_task_needs_a_yes_no_answer(make_model, verifier) -> None:
    inst = Instance(id="b1", context="c", question="Is it?", answer="yes", task="boolean")
    gen = make_model(lambda m: json.dumps({"new_question": "How many?", "new_answer": "3"}), "g")
    rec = await EvolvePipeline(gen, verifier).evolve(inst, Mode.COMPLEX)
    assert rec.status == "fail" and "Answer type error" in rec.cause
