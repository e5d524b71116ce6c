"""The full protocol on tiny random `hf:` models: garbage JSON never crashes the team."""

from __future__ import annotations

from phalanx.agents.longagent import LongAgentTeam
from phalanx.agents.longagent.chunking import HFTokenizer, tokenizer_for
from phalanx.models import GenerationConfig, load_model


async def test_tiny_hf_team_survives_garbage_json(tiny_model_dir):
    model = load_model(f"hf:{tiny_model_dir}?device=cpu")
    cfg = GenerationConfig(max_new_tokens=12, temperature=1.0, seed=0)
    team = LongAgentTeam(
        model, model, chunk_tokens=120, max_rounds=2, max_reasks=1, leader_config=cfg, member_config=cfg
    )
    doc = "Alice is the mother of Bob. The needle is hidden here. " * 30
    try:
        result = await team.arun(doc, "Who is the mother of Bob?")
    finally:
        await model.aclose()
    # The random model cannot speak JSON: every exchange is bounded and the status says so.
    assert result.status in {"no_answer", "answered", "forced_answer"}
    if result.status == "no_answer":
        assert result.answer is None
    members = [e for e in result.events if e["kind"] == "member_response"]
    assert len(members) >= result.num_members > 1
    assert all(1 <= e["attempts"] <= 2 for e in members)
    assert all(len(e["prompt_tokens"]) == e["attempts"] and min(e["prompt_tokens"]) > 100 for e in members)
    assert all(e["error"] for e in members if e["content"] is None)
    leader = [e for e in result.events if e["kind"] == "leader_message"]
    assert all(1 <= len(e["raw"]) <= 2 for e in leader)
    assert result.events[-1]["kind"] == "final" and result.events[-1]["status"] == result.status
    # Chunks were cut with the model's own tokenizer.
    assert isinstance(tokenizer_for(team.member), HFTokenizer)
