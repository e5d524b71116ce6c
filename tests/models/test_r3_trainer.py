"""R³ end to end on a tiny random Llama: staged and mixed runs, the r3: checkpoint, `phalanx train r3`."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from phalanx.cli.app import app
from phalanx.models import CheckpointError, Message, ModelSpecError, load_model
from phalanx.models.trainers import (
    PPOConfig,
    R3Config,
    generate_word_problems,
    load_trainable,
    train_r3,
    write_gsm8k_jsonl,
)
from phalanx.models.trainers.r3 import run_r3

PPO = PPOConfig(batch_size=2, mini_batch_size=1, max_new_tokens=6, learning_rate=1e-3)


def _digit_share(states, texts):
    # A dense stand-in reward so advantages are non-zero on a random model (the outcome reward is 0 there).
    return [sum(c.isdigit() for c in t) / max(len(t), 1) for t in texts]


def test_staged_run_trains_saves_and_reloads(tiny_model_dir: Path, tmp_path: Path) -> None:
    lm, tok = load_trainable(f"hf:{tiny_model_dir}")
    before = {k: v.detach().clone() for k, v in lm.named_parameters()}
    demos = generate_word_problems(4, seed=5)
    seen = []
    cfg = R3Config(steps=3, steps_per_stage=1, ppo=PPO)
    result = train_r3(
        lm, tok, demos, config=cfg, out=tmp_path / "ck", reward_fn=_digit_share, on_step=seen.append
    )
    assert [s.step for s in seen] == [1, 2, 3] and result.steps == seen
    assert all(math.isfinite(s.pg_loss) and math.isfinite(s.vf_loss) and math.isfinite(s.kl) for s in seen)
    # Staged with a budget of one update per stage: stages 0, 1, 2 and k moves back towards 0.
    assert [s.stage for s in seen] == [0, 1, 2] and all(s.advanced for s in seen)
    assert seen[0].mean_k >= seen[2].mean_k
    assert any(not torch.equal(before[k], v) for k, v in lm.named_parameters())

    model = load_model(f"r3:{result.checkpoint}?device=cpu&dtype=float32")
    for name, value in model.model.state_dict().items():  # the trained weights, value head stripped
        assert torch.equal(value, lm.state_dict()[name]), name
    reply = asyncio.run(model.chat([Message(role="user", content=demos[0].question)]))
    assert "r3" in reply.details
    assert model.prompt_format.template.endswith("{question}\n\n### Response: ")


def test_mix_run_with_the_outcome_reward(tiny_model_dir: Path, tmp_path: Path) -> None:
    lm, tok = load_trainable(str(tiny_model_dir))
    demos = generate_word_problems(3, seed=2)
    result = train_r3(lm, tok, demos, config=R3Config(schedule="mix", steps=2, ppo=PPO), out=None)
    assert result.checkpoint is None and result.final_stage == 0
    for s in result.steps:  # a random model writes no '####': every episode scores 0
        assert s.mean_score == 0.0 and s.accuracy == 0.0 and math.isfinite(s.pg_loss)


def test_run_r3_refuses_a_used_output_and_other_schemes(tiny_model_dir: Path, tmp_path: Path) -> None:
    data = write_gsm8k_jsonl(tmp_path / "d.jsonl", generate_word_problems(2))
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "keep.txt").write_text("earlier run")
    with pytest.raises(CheckpointError, match="already exists and is not empty"):
        run_r3(f"hf:{tiny_model_dir}", data, tmp_path / "used")
    assert (tmp_path / "used" / "keep.txt").read_text() == "earlier run"
    with pytest.raises(ModelSpecError, match="trainers start from hf:, r3:"):
        run_r3("openai:gpt-4o", data, tmp_path / "new")


def test_cli_train_r3_writes_a_checkpoint_r3_loads(tiny_model_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    data = tmp_path / "arith.jsonl"
    res = runner.invoke(app, ["train", "arithmetic", str(data), "--n", "5", "--seed", "3"])
    assert res.exit_code == 0, res.output
    assert len(data.read_text().splitlines()) == 5
    out = tmp_path / "ck"
    args = ["train", "r3", "--model", f"hf:{tiny_model_dir}", "--data", str(data), "--out", str(out)]
    res = runner.invoke(app, [*args, "--steps", "2", "--batch-size", "2", "--max-new-tokens", "4", "--json"])
    assert res.exit_code == 0, res.output
    lines = [json.loads(x) for x in res.stdout.splitlines() if x.startswith("{")]
    assert [x["step"] for x in lines] == [1, 2]
    assert f"wrote {out}" in res.output
    assert load_model(f"r3:{out}?device=cpu").prompt_format.answer_pattern.startswith("####")

    # Bad input: exit status 2 and a one-line reason, no traceback; the finished run is kept.
    res = runner.invoke(app, [*args, "--steps", "1"])
    assert res.exit_code == 2 and "already exists and is not empty" in res.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "Q?", "answer": "no final line"}\n')
    res = runner.invoke(
        app, ["train", "r3", "--model", "hf:x", "--data", str(bad), "--out", str(tmp_path / "o")]
    )
    assert res.exit_code == 2 and f"{bad}:1" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, [*args[:-1], str(tmp_path / "o2"), "--schedule", "sideways"])
    assert res.exit_code == 2 and "--schedule must be" in res.output
