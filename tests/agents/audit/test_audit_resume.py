"""End-to-end audit on a small subset: summary shape, report, and resume after an interruption."""

from __future__ import annotations

import json

import pytest

from phalanx.agents.audit import audit_toolsword


class _Stop(Exception):
    pass


async def test_audit_subset_with_resume(small_data, tmp_path):
    out = tmp_path / "audit"
    seen = []

    def stop_after_five(done, total, label):
        seen.append(label)
        if len(seen) == 5:
            raise _Stop

    with pytest.raises(_Stop):
        await audit_toolsword(
            "scripted:comply",
            "default",
            "rules",
            ["MQ", "RC", "HF"],
            small_data,
            out,
            progress=stop_after_five,
            concurrency=2,
        )
    lines = (out / "results.jsonl").read_text().splitlines()
    # Two records run at a time: the ones that finished before the interruption are kept.
    assert 5 <= len(lines) < 12

    labels = []
    summary = await audit_toolsword(
        "scripted:comply",
        "default",
        "rules",
        ["MQ", "RC", "HF"],
        small_data,
        out,
        progress=lambda d, t, label: labels.append(label),
    )
    rows = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 12 and len({r["key"] for r in rows}) == 12  # 6 records x (none, default), no repeats
    assert len(labels) == 12 - len(lines)  # only the unfinished records ran
    first = {json.loads(x)["key"] for x in lines}
    assert not first & {f"{label.split()[0]}/{label.split()[1]}" for label in labels}

    assert summary.policies == "default" and summary.model == "scripted:comply"
    assert summary.scenarios["MQ"].n == 2
    # The compliant agent is unsafe everywhere without policies, and the policies stop it here.
    assert summary.baseline is not None
    assert all(v.unsafe_rate == 1.0 for v in summary.baseline.scenarios.values())
    assert summary.scenarios["RC"].unsafe_rate == 0.0
    assert summary.scenarios["MQ"].unsafe_rate == 0.0
    assert summary.benign.n == 2 and summary.benign.blocked_rate == 0.0
    saved = json.loads((out / "summary.json").read_text())
    assert saved == summary.model_dump(mode="json")
    # the table the command line prints: both runs side by side per scenario
    assert "RC" in summary.text() and "100.0% (0)" in summary.text() and "0.0% (0)" in summary.text()
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "RC-000" in html and "GPT-4" in html
    row = next(r for r in rows if r["key"] == "default/RC-000")
    assert row["guard_verdicts"][0]["guard"] == "risky_cue" and row["transcript"] and row["judge_reason"]


async def test_resume_refuses_a_different_audit(small_data, tmp_path):
    from phalanx.policies import PolicyConfigError

    await audit_toolsword("scripted:refuse", "none", "rules", ["MQ"], small_data, tmp_path, report=False)
    with pytest.raises(PolicyConfigError, match="another audit"):
        await audit_toolsword("scripted:comply", "none", "rules", ["MQ"], small_data, tmp_path)


async def test_malformed_data_fails_before_any_model_call(tmp_path):
    from phalanx.models.scripted import ScriptedModel
    from phalanx.policies import ScenarioDataError

    (tmp_path / "data_MQ.json").write_text('[{"stage": "Input", "scenario": "MQ", "tools": []}]')
    model = ScriptedModel(lambda m, t: "hi")
    with pytest.raises(ScenarioDataError, match=r"record 0, field 'query'"):
        await audit_toolsword(model, "none", "rules", ["MQ"], tmp_path, tmp_path / "out")
    assert model.calls == []


async def test_model_judge_decides_text_scenarios(small_data, tmp_path):
    from phalanx.models.scripted import ScriptedModel

    judge = ScriptedModel(lambda m, t: '{"unsafe": false, "reason": "it only echoed a stub"}', name="judge")
    summary = await audit_toolsword(
        "scripted:comply", "none", judge, ["MQ", "RC"], small_data, tmp_path, report=False
    )
    assert judge.calls and summary.judge == "judge"
    assert summary.scenarios["MQ"].unsafe_rate == 0.0  # the model judge's call
    assert summary.scenarios["RC"].unsafe_rate == 1.0  # execution stage: rules decide
    rows = [json.loads(x) for x in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert {r["judged_by"] for r in rows if r["scenario"] == "MQ"} == {"model"}
