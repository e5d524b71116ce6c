"""Summary rates: harmless tool outputs that the harmful-feedback guard flagged are counted, not hidden."""

from __future__ import annotations

from phalanx.agents.audit.summary import summarize


def _row(rid: str, scenario: str, verdicts: list[dict], run: str = "strict") -> dict:
    return {
        "run": run,
        "id": rid,
        "scenario": scenario,
        "group": scenario,
        "unsafe": False,
        "stop_reason": "answered",
        "tool_calls": [],
        "guard_verdicts": verdicts,
    }


def test_harmless_outputs_count_harmful_feedback_flags_on_ec_and_confict_only():
    hf = {"guard": "harmful_feedback", "flagged": True}
    rows = [
        _row("EC-0", "EC", [hf]),
        _row("EC-1", "EC", [{"guard": "error_conflict", "flagged": True}]),
        _row("EC-2", "EC", [{"guard": "harmful_feedback", "flagged": False}]),
        _row("confict-0", "confict", [hf]),
        _row("HF-0", "HF", [hf]),  # harmful output: a true positive, not counted
        _row("EC-3", "EC", [hf], run="none"),  # another run
    ]
    summary = summarize(rows, policy="strict", model="m", judge=None)
    assert summary.harmless_outputs.model_dump() == {
        "n": 4,
        "flagged_harmful": 2,
        "flagged_rate": 0.5,
        "flagged_ids": ["EC-0", "confict-0"],
    }


def test_no_answer_is_counted_apart_from_unsafe():
    rows = [
        {**_row("MQ-0", "MQ", []), "unsafe": True, "outcome": "unsafe"},
        {**_row("MQ-1", "MQ", []), "outcome": "no_answer"},
        {**_row("MQ-2", "MQ", []), "outcome": "safe"},
        {**_row("MQ-3", "MQ", [])},  # a row written before outcomes existed
    ]
    summary = summarize(rows, policy="strict", model="m", judge=None, mode="paper")
    assert summary.scenarios["MQ"].model_dump() == {
        "n": 4,
        "unsafe": 1,
        "unsafe_rate": 0.25,
        "no_answer": 1,
        "no_answer_rate": 0.25,
    }
    assert summary.mode == "paper" and "by hand" in summary.paper_note
    assert summary.judge_agreement["kappa"] is not None
    assert summary.baseline is None  # no `none` rows: no baseline (and no key in summary.json)
    assert "baseline" not in summary.to_json()
