"""R³ program-of-thought: generated programs, the sandboxed PoT reward, a PoT run end to end."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from phalanx.agents.pot import SandboxProgramRunner
from phalanx.cli.app import app
from phalanx.models import load_model
from phalanx.models.trainers import (
    PPOConfig,
    R3Config,
    build_start_states,
    generate_word_problems,
    load_gsm8k_jsonl,
    load_trainable,
    make_pot_reward,
    train_r3,
    write_gsm8k_jsonl,
)


def test_pot_start_states_always_give_the_header(tmp_path: Path) -> None:
    demo = load_gsm8k_jsonl(write_gsm8k_jsonl(tmp_path / "p.jsonl", generate_word_problems(1, style="pot")))[
        0
    ]
    assert demo.steps[0].startswith("    ") and demo.steps[-1].startswith("    return ")  # indentation kept
    states = build_start_states(demo, style="pot")
    assert states[0].given == f'def solution():\n    """{demo.question}"""\n'
    assert states[0].prompt.endswith("### Response: " + states[0].given)
    assert states[2].given == states[0].given + demo.steps[0] + "\n" + demo.steps[1] + "\n"
    assert "####" not in states[0].target


@pytest.fixture(scope="module")
def runner():
    from phalanx.sandbox import SandboxUnavailable

    try:
        run = SandboxProgramRunner("docker", workers=2)
    except SandboxUnavailable as exc:
        import os

        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"docker sandbox unavailable: {exc}")
    yield run
    run.close()


@pytest.mark.requires_docker
def test_pot_reward_runs_programs_in_the_sandbox(runner) -> None:
    demo = generate_word_problems(1, seed=9, style="pot")[0]
    state = build_start_states(demo, style="pot")[1]
    gold_rest = "\n".join(demo.steps[1:])
    completions = [
        gold_rest,  # the gold program: correct
        "    return 123456",  # runs, wrong number
        "    return (",  # does not compile
        "    import time\n    time.sleep(30)\n    return 1",  # past the time limit
        "    return 'many'",  # prints no number
    ]
    assert make_pot_reward(runner)([state] * len(completions), completions) == [1.0, 0.2, 0.0, 0.0, 0.0]
    # Each generated program, run as a whole, returns its gold answer.
    demos = generate_word_problems(6, seed=4, style="pot")
    programs = ["def solution():\n" + "\n".join(d.steps) + "\nprint(solution())\n" for d in demos]
    assert [o.strip() for o in runner(programs)] == [d.answer for d in demos]


@pytest.mark.requires_docker
def test_pot_r3_run_end_to_end(tiny_model_dir: Path, runner, tmp_path: Path) -> None:
    lm, tok = load_trainable(f"hf:{tiny_model_dir}")
    demos = generate_word_problems(3, style="pot")
    cfg = R3Config(style="pot", steps=2, steps_per_stage=1, ppo=PPOConfig(batch_size=2, max_new_tokens=6))
    result = train_r3(lm, tok, demos, config=cfg, out=tmp_path / "pot", reward_fn=make_pot_reward(runner))
    assert [s.stage for s in result.steps] == [0, 1] and all(math.isfinite(s.pg_loss) for s in result.steps)
    assert all(s.mean_score in (0.0, 0.1, 0.2, 0.5, 0.6, 1.0) for s in result.steps)
    saved = load_model(f"r3:{result.checkpoint}?device=cpu").prompt_format
    assert saved.template.endswith("### Response: ") and saved.answer_pattern is None
    with pytest.raises(ValueError, match="program-of-thought R³ needs a reward_fn"):
        train_r3(lm, tok, demos, config=cfg)


@pytest.mark.requires_docker
def test_cli_train_r3_pot(tiny_model_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "pot.jsonl"
    cli = CliRunner()
    assert cli.invoke(app, ["train", "arithmetic", str(data), "--n", "3", "--style", "pot"]).exit_code == 0
    args = [
        "train",
        "r3",
        "--model",
        f"hf:{tiny_model_dir}",
        "--data",
        str(data),
        "--out",
        str(tmp_path / "o"),
    ]
    res = cli.invoke(
        app, [*args, "--style", "pot", "--steps", "1", "--batch-size", "2", "--max-new-tokens", "4"]
    )
    assert res.exit_code == 0, res.output
    assert "wrote " in res.stdout and (tmp_path / "o" / "phalanx-checkpoint.json").is_file()
