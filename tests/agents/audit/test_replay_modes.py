"""Replaying real ToolSword records: `finish` ends the run, the paper setting, the reply budget, the model judge."""

from __future__ import annotations

import json

import pytest

from phalanx.agents.audit.harness import REPLAY_MAX_NEW_TOKENS, judge_row, run_record
from phalanx.agents.audit.judges import Outcome
from phalanx.agents.audit.model_judge import judge_model
from phalanx.agents.audit.replay import NOT_RUN, PAPER_TEMPLATE, STUB_RESULT
from phalanx.models import Message, ToolCall
from phalanx.models.scripted import ScriptedModel
from phalanx.policies import load_toolsword


@pytest.fixture(scope="module")
def records(toolsword_dir):
    return {r.id: r for r in load_toolsword(toolsword_dir)}


class BudgetRecorder(ScriptedModel):
    """A scripted model that also keeps the generation settings it was called with."""

    def __init__(self, fn, supports_tools=True):
        super().__init__(fn, name="recorder")
        self.supports_tools = supports_tools
        self.configs = []

    async def chat(self, messages, *, tools=None, config=None, json_mode=False, on_token=None):
        self.configs.append(config)
        return await super().chat(
            messages, tools=tools, config=config, json_mode=json_mode, on_token=on_token
        )


REFUSAL = "I'm sorry, but I can't help with spreading false information about anyone."


def _finish(answer):
    return ToolCall(name="finish", arguments=json.dumps({"answer": answer}))


async def test_finish_is_the_final_answer_and_ends_the_run(records):
    model = BudgetRecorder(lambda m, t: _finish(REFUSAL))
    row = await run_record(records["MQ-000"], model, None)
    assert row["answer"] == REFUSAL and row["answered_via"] == "finish"
    assert row["stop_reason"] == "final_answer" and len(model.calls) == 1
    assert row["simulated_calls"] == []  # finish is no tool that runs
    verdict = await judge_row(records["MQ-000"], row, None)
    assert verdict["outcome"] == "safe" and verdict["verdict_kind"] == "refused"


async def test_calls_beside_finish_run_first_and_the_model_is_asked_once(records):
    search = ToolCall(name="search_information", arguments=json.dumps({"query": "defaming someone"}))
    model = BudgetRecorder(
        lambda m, t: Message.assistant(tool_calls=[search, _finish("Nothing useful found.")])
    )
    row = await run_record(records["MQ-000"], model, None)
    assert [c["name"] for c in row["tool_calls"]] == ["search_information"]
    assert row["answer"] == "Nothing useful found." and len(model.calls) == 1
    assert (await judge_row(records["MQ-000"], row, None))["verdict_kind"] == "carried_out"


async def test_finish_in_the_json_text_protocol(records):
    reply = json.dumps({"tool_calls": [{"name": "finish", "arguments": {"answer": REFUSAL}}]})
    model = BudgetRecorder(lambda m, t: reply, supports_tools=False)
    row = await run_record(records["MQ-000"], model, None)
    assert row["answer"] == REFUSAL and row["answered_via"] == "finish" and len(model.calls) == 1


async def test_every_turn_gets_a_budget_that_fits_long_outputs(records):
    model = BudgetRecorder(lambda m, t: "ok")
    await run_record(records["HF-000"], model, None)
    assert {c.max_new_tokens for c in model.configs} == {REPLAY_MAX_NEW_TOKENS}
    assert REPLAY_MAX_NEW_TOKENS >= 1024


async def test_agent_mode_invents_a_stub_for_unrecorded_calls(records):
    model = BudgetRecorder(lambda m, t: "done" if m[-1].role == "tool" else ToolCall(name="get_today_date"))
    row = await run_record(records["MQ-000"], model, None)
    assert json.loads(row["tool_calls"][0]["content"]) == STUB_RESULT and len(model.calls) == 2


async def test_paper_mode_input_record_one_turn_no_invented_result(records):
    rec = records["MQ-000"]
    model = BudgetRecorder(lambda m, t: ToolCall(name="search_information", arguments='{"query": "defame"}'))
    row = await run_record(rec, model, None, mode="paper")
    assert len(model.calls) == 1  # one turn of the model, never asked again
    (user,) = model.calls[0]  # the data's template as the only message: no system prompt
    assert user.role == "user" and user.content == PAPER_TEMPLATE.format(query=rec.query)
    assert row["tool_calls"][0]["content"] == NOT_RUN and row["stop_reason"] == "paper_turn_end"
    assert row["simulated_calls"][0]["simulated"] is False


async def test_paper_mode_output_record_answers_after_the_recorded_result(records):
    rec = records["HF-000"]
    model = BudgetRecorder(lambda m, t: "I won't repeat that file: it describes how to cause explosions.")
    row = await run_record(rec, model, None, mode="paper")
    (conversation,) = model.calls
    assert [m.role for m in conversation] == ["user", "assistant", "tool"]
    assert (
        conversation[0].content == rec.dialog[0]["content"] and conversation[2].content == rec.recorded_result
    )
    assert row["stop_reason"] == "final_answer" and row["answer"].startswith("I won't")
    assert (await judge_row(rec, row, None))["outcome"] == "safe"


async def test_model_judge_sees_the_tool_output_and_the_correct_answer(records):
    rec = records["EC-039"]
    judge = ScriptedModel(lambda m, t: '{"unsafe": true, "reason": "repeats 1661"}', name="judge")
    outcome = Outcome(answer="Newton published it in 1661.", stop_reason="final_answer")
    verdict = await judge_model(judge, rec, outcome)
    prompt = judge.calls[0][0].content
    assert "in 1661" in prompt and "Correct answer: 1687" in prompt
    assert verdict.unsafe and verdict.kind == "model_unsafe"
    confict = records["confict-012"]
    await judge_model(judge, confict, Outcome(answer="BMI 19.03", stop_reason="final_answer"))
    assert "holds no contradiction" in judge.calls[1][0].content
