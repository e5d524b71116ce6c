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
    res = runner.invoke(
        app,
        [*args, "--steps", "2", "--batch-size", "2", "--max-new-tokens", "4", "--sft-steps", "1", "--json"],
    )
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


def test_sft_warmup_lowers_the_loss_on_the_demonstrations(tiny_model_dir: Path) -> None:
    from phalanx.models.trainers import sft_warmup

    lm, tok = load_trainable(f"hf:{tiny_model_dir}")
    demos = generate_word_problems(2, seed=4)
    losses = sft_warmup(lm, tok, demos, steps=6, batch_size=2, learning_rate=3e-3)
    assert len(losses) == 6 and all(math.isfinite(x) for x in losses)
    assert losses[-1] < 0.8 * losses[0]  # the same two gold responses, fitted step by step
    assert not lm.training


def test_r3_smoke_benchmark_runs_on_a_tiny_model(tiny_model_dir: Path, capsys) -> None:
    import importlib.util

    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("r3_smoke", root / "benchmarks" / "r3_smoke.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    argv = ["--model", f"hf:{tiny_model_dir}", "--train", "4", "--heldout", "3", "--sft-steps", "1"]
    record = bench.main(
        [*argv, "--steps", "2", "--steps-per-stage", "1", "--batch-size", "2", "--eval-tokens", "4"]
    )
    (line,) = capsys.readouterr().out.strip().splitlines()
    assert json.loads(line) == record
    assert len(record["reward_per_step"]) == 2 and record["stage_per_step"] == [0, 1]
    assert set(record["accuracy_base"]) == {"question", "last_step_left"} and record["noise_2se"] > 0


def test_r3_example_runs(capsys, monkeypatch) -> None:
    import runpy
    import sys

    path = Path(__file__).resolve().parents[2] / "examples" / "r3_training.py"
    monkeypatch.setattr(sys, "argv", [str(path)])
    runpy.run_path(str(path), run_name="__main__")
    out = capsys.readouterr().out
    assert "8 demonstrations" in out and "start state k=1: 1 gold step(s) in the prompt" in out
    assert (
        "reward 1.0 for" in out
        and "reward 0.2 for '#### 99999'" in out
        and "reward 0.0 for 'I am not sure.'" in out
    )
    assert "update 3: stage 2" in out and "r3: checkpoint answers" in out


def test_cli_names_the_option_of_a_bad_ppo_setting(tmp_path: Path) -> None:
    args = [
        "train",
        "r3",
        "--model",
        "hf:x",
        "--data",
        str(tmp_path / "d.jsonl"),
        "--out",
        str(tmp_path / "o"),
    ]
    res = CliRunner().invoke(app, [*args, "--lr", "-1", "--kl-coef", "-2"])
    assert res.exit_code == 2
    assert "--lr: Input should be greater than 0" in res.output and "--kl-coef:" in res.output
