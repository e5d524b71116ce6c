"""Policy files, fail-closed behaviour and the model-judge variant."""

from __future__ import annotations

import pytest

from phalanx.models.scripted import ScriptedModel
from phalanx.policies import (
    Finding,
    GuardAction,
    PolicyConfig,
    PolicyConfigError,
    PolicyStack,
    Stage,
    ToolSpec,
    load_policy,
)
from phalanx.policies.guard import Guard


def test_builtin_policies():
    default = load_policy("default")
    assert default.name == "default" and default.fail_closed
    assert {
        "malicious_query",
        "jailbreak",
        "noisy_misdirection",
        "risky_cue",
        "harmful_feedback",
        "error_conflict",
    } <= set(default.active)
    assert default.guards["error_conflict"].action == GuardAction.ANNOTATE
    assert load_policy("none").active == {}


def test_yaml_policy(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(
        "guards:\n  malicious_query:\n    action: annotate\n    threshold: 0.7\n  jailbreak:\n    enabled: false\n"
    )
    policy = load_policy(path)
    assert policy.name == "p"
    assert policy.guards["malicious_query"].threshold == 0.7
    assert list(policy.active) == ["malicious_query"]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("guards:\n  not_a_guard: {}\n", "unknown guard"),
        ("guards:\n  jailbreak:\n    action: explode\n", "guards.jailbreak.action"),
        ("guards: [1, 2\n", "not valid YAML"),
        ("- a\n- b\n", "mapping"),
    ],
)
def test_bad_policy_files_name_the_problem(tmp_path, text, needle):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(PolicyConfigError) as err:
        load_policy(path)
    assert needle in str(err.value) and "bad.yaml" in str(err.value)


def test_unknown_policy_name():
    with pytest.raises(PolicyConfigError, match="neither a built-in"):
        load_policy("strictest")


class _Broken(Guard):
    name = "broken"
    stage = Stage.INPUT

    async def check(self, ctx):
        raise RuntimeError("detector crashed")


async def test_guard_error_fails_closed():
    stack = PolicyStack("none")
    stack.guards[Stage.INPUT].append((_Broken(), PolicyConfig().guards.get("x") or _cfg()))
    decision = await stack.screen_input("hello")
    assert decision.blocked
    assert decision.verdicts[0].error and "crashed" in decision.reason
    stack.config.fail_closed = False
    assert not (await stack.screen_input("hello")).blocked


def _cfg():
    from phalanx.policies import GuardConfig

    return GuardConfig(action="annotate")


async def test_model_judge_variant_flags_what_rules_miss():
    judge = ScriptedModel(lambda messages, tools: '{"flagged": true, "reason": "the date is wrong"}')
    cfg = PolicyConfig(name="j", guards={"error_conflict": {"action": "annotate", "judge": "default"}})
    stack = PolicyStack(cfg, judge=judge)
    d = await stack.check_result(ToolSpec("search", "Search."), {}, '["The Moon landing was in 1959."]')
    assert d.action == "annotate" and "the date is wrong" in d.content
    assert judge.calls  # the judge really ran


async def test_unreadable_judge_reply_fails_closed():
    judge = ScriptedModel(lambda messages, tools: "hmm, hard to say")
    stack = PolicyStack(
        PolicyConfig(name="j", guards={"harmful_feedback": {"judge": "default"}}), judge=judge
    )
    d = await stack.check_result(
        ToolSpec("search", "Search."), {}, "Sunny with a light breeze all afternoon."
    )
    assert d.blocked and d.verdicts[0].error


def test_judge_default_without_model_is_a_config_error():
    with pytest.raises(PolicyConfigError, match="no judge model"):
        PolicyStack(PolicyConfig(name="j", guards={"harmful_feedback": {"judge": "default"}}))


def test_finding_clean():
    assert not Finding.clean("x").flagged
