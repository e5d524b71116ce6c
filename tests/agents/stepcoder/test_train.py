"""StepCoder PPO: FGO masks over generated tokens, and training end to end in the Docker sandbox."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from phalanx.agents.stepcoder import Curriculum, CurriculumSchedule, build_subtasks, fgo_mask, load_problems
from phalanx.agents.stepcoder.train import (
    TRAINING_FILE,
    StepCoderTrainConfig,
    completion_mask,
    token_offsets,
    train_stepcoder,
)
from phalanx.models import load_model
from phalanx.models.tiny import build_tiny_tokenizer
from phalanx.models.trainers import PPOConfig, load_trainable

PROGRAM = "def f(x):\n    if x < 0:\n        y = -x * 1000\n        return y\n    return x + 1\n"
DEAD = "y = -x * 1000"


@pytest.fixture(scope="module")
def tok():
    return build_tiny_tokenizer()


def test_token_offsets_cover_the_decoded_text(tok) -> None:
    text = "    return x + 1\n# é ü 😀\n"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    spans = token_offsets(ids, tok)
    assert spans[0][0] == 0 and spans[-1][1] == len(tok.decode(ids)) == len(text)
    assert all(a <= b for a, b in spans) and all(
        spans[i][1] <= spans[i + 1][1] for i in range(len(spans) - 1)
    )


def test_completion_mask_matches_fgo_mask_on_the_same_tokens(tok) -> None:
    start = PROGRAM.index("    if")
    ids = tok(PROGRAM[start:], add_special_tokens=False)["input_ids"]
    covered = [1, 2, 5]  # x >= 0 in every test: the if-body never ran
    ours = completion_mask(PROGRAM, start, ids, tok, covered)
    reference = fgo_mask(PROGRAM, covered, tok, completion_start=start)
    assert ours.tolist() == reference.tolist()
    dead = "".join(tok.decode([i]) for i, m in zip(ids, ours.tolist(), strict=True) if m == 0)
    assert "1000" in dead and "return x" not in dead
    # No coverage (did not compile / harness failed) or unparsable code: nothing is masked.
    assert completion_mask(PROGRAM, start, ids, tok, None).tolist() == [1.0] * len(ids)
    assert completion_mask("def f(:\n", 0, ids, tok, [1]).tolist() == [1.0] * len(ids)


@pytest.mark.requires_docker
async def test_mask_from_sandbox_coverage_drops_the_unexecuted_branch(executor, make_problem, tok) -> None:
    problem = make_problem("call", [[1], [5]], [[2], [6]])
    res = await executor.run(problem, PROGRAM, coverage=True, stop_on_failure=True)
    assert res.passed and res.coverage is not None
    start = PROGRAM.index("    if")
    ids = tok(PROGRAM[start:], add_special_tokens=False)["input_ids"]
    mask = completion_mask(PROGRAM, start, ids, tok, res.coverage)
    offsets = token_offsets(ids, tok)
    completion = PROGRAM[start:]
    masked = "".join(completion[a:b] for (a, b), m in zip(offsets, mask.tolist(), strict=True) if m == 0)
    assert DEAD in masked and "return y" in masked and "return x + 1" not in masked


def _short_problems(n: int):
    # Problems whose canonical solution is short and has scope cut points, so CCCS has stages.
    problems = [
        p for p in load_problems() if p.canonical_solution.count("\n") < 12 and len(build_subtasks(p)) >= 3
    ]
    return problems[:n]


@pytest.mark.requires_docker
async def test_train_stepcoder_end_to_end(tiny_model_dir: Path, executor, tmp_path: Path) -> None:
    lm, tok = load_trainable(f"hf:{tiny_model_dir}")
    problems = _short_problems(3)
    assert len(problems) == 3
    cfg = StepCoderTrainConfig(
        steps=2,
        curriculum=CurriculumSchedule(stages=3, advance="steps", steps_per_stage=2),
        ppo=PPOConfig(batch_size=2, mini_batch_size=2, max_new_tokens=8, learning_rate=1e-3),
    )
    seen = []
    result = await train_stepcoder(
        lm, tok, problems, executor, config=cfg, out=tmp_path / "sc", on_step=seen.append
    )
    assert [s.step for s in seen] == [1, 2]
    ladder = {1.0, -0.3, -0.6, -1.0, 0.0}  # what one program can score
    for s in seen:
        assert s.not_run == 0 and math.isfinite(s.pg_loss) and math.isfinite(s.vf_loss)
        assert any(math.isclose(s.mean_reward, (a + b) / 2) for a in ladder for b in ladder)
        assert 0.0 <= s.masked_fraction <= 1.0
    # Two programs per update and two programs per stage: the curriculum moved on after update 1.
    assert seen[0].stage == 0 and seen[0].advanced and seen[1].stage == 1 and result.final_stage == 2
    history = json.loads((tmp_path / "sc" / TRAINING_FILE).read_text())
    assert [h["step"] for h in history["steps"]] == [1, 2]
    reloaded = load_model(f"hf:{tmp_path / 'sc'}?device=cpu&dtype=float32")
    for name, value in reloaded.model.state_dict().items():
        assert torch.equal(value, lm.state_dict()[name]), name


def test_curriculum_prompts_start_with_the_longest_prefix() -> None:
    problem = _short_problems(1)[0]
    cur = Curriculum([problem], CurriculumSchedule(stages=2, steps_per_stage=1))
    first = cur.subtask(problem.problem_id)
    cur.record(False)
    assert len(first.prefix) > len(cur.subtask(problem.problem_id).prefix) == 0


@pytest.mark.requires_docker
def test_cli_train_stepcoder(tiny_model_dir: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from phalanx.cli.app import app

    out = tmp_path / "sc"
    args = ["train", "stepcoder", "--model", f"hf:{tiny_model_dir}", "--out", str(out), "--limit", "4"]
    res = CliRunner().invoke(
        app, [*args, "--steps", "1", "--batch-size", "2", "--max-new-tokens", "6", "--json"]
    )
    assert res.exit_code == 0, res.output
    (line,) = [json.loads(x) for x in res.stdout.splitlines() if x.startswith("{")]
    assert line["step"] == 1 and line["not_run"] == 0
    assert (out / TRAINING_FILE).is_file() and f"load it with hf:{out}" in res.stdout
    # A finished run is never overwritten; bad data is named; no traceback either time.
    res = CliRunner().invoke(app, [*args, "--steps", "1"])
    assert res.exit_code == 2 and "already exists and is not empty" in res.output
    fresh = ["train", "stepcoder", "--model", f"hf:{tiny_model_dir}", "--out", str(tmp_path / "new")]
    res = CliRunner().invoke(app, [*fresh, "--data", str(tmp_path / "none.jsonl")])
    assert res.exit_code == 2 and "none.jsonl: no such file" in res.output and "Traceback" not in res.output


@pytest.mark.requires_docker
def test_stepcoder_example_runs(capsys, monkeypatch) -> None:
    import runpy
    import sys

    path = Path(__file__).resolve().parents[3] / "examples" / "stepcoder_training.py"
    monkeypatch.setattr(sys, "argv", [str(path)])
    runpy.run_path(str(path), run_name="__main__")
    out = capsys.readouterr().out
    assert "CCCS subtasks, prefixes of" in out and "canonical remainder: reward +1.0; FGO keeps" in out
    assert "update 2: CCCS stage 1" in out and "final CCCS stage 2" in out
