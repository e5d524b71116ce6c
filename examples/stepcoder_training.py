"""StepCoder RL: PPO on CCCS completion subtasks, rewarded in the Docker sandbox, with FGO masks.

Runs in under a minute on a tiny random Llama (it writes gibberish code, so the ladder says
syntax error; the mechanics are real). Needs Docker and the `scientific` image
(`phalanx sandbox build-image --name scientific`).
  1. CCCS: the subtasks of one APPS+ problem, longest canonical prefix first;
  2. FGO: the canonical solution run with coverage, and the tokens a test never executed;
  3. two PPO updates with the sandboxed reward ladder and the FGO-masked policy loss;
the model is saved as a plain model directory (`hf:DIR` loads it).
The same from the shell: `phalanx train stepcoder --model hf:DIR --out DIR`.

Usage: python examples/stepcoder_training.py
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from phalanx.agents.stepcoder import (
    CurriculumSchedule,
    Executor,
    ExecutorConfig,
    StepCoderTrainConfig,
    build_subtasks,
    completion_mask,
    load_problems,
    open_apps_sandbox,
    train_stepcoder,
)
from phalanx.models import build_tiny_checkpoint
from phalanx.models.trainers import PPOConfig, load_trainable


async def main() -> None:
    problems = [p for p in load_problems() if len(build_subtasks(p)) >= 3][:4]
    tasks = build_subtasks(problems[0])
    print(f"problem {problems[0].problem_id}: {len(tasks)} CCCS subtasks, prefixes of", end=" ")
    print(", ".join(f"{t.prefix.count(chr(10))}" for t in tasks), "lines")

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_tiny_checkpoint(Path(tmp) / "tiny")
        lm, tok = load_trainable(f"hf:{model_dir}")
        sandbox = open_apps_sandbox("docker", workers=2)
        try:
            executor = Executor(sandbox, ExecutorConfig(case_timeout_s=2.0))
            task = tasks[0]
            res = await executor.run(problems[0], task.program, coverage=True)
            ids = tok(task.remainder, add_special_tokens=False)["input_ids"]
            mask = completion_mask(task.program, len(task.prefix), ids, tok, res.coverage)
            print(
                f"canonical remainder: reward {res.reward:+.1f}; FGO keeps {int(mask.sum())}/{len(ids)} tokens"
            )

            config = StepCoderTrainConfig(
                steps=2,
                curriculum=CurriculumSchedule(stages=3, advance="steps", steps_per_stage=2),
                ppo=PPOConfig(batch_size=2, mini_batch_size=2, max_new_tokens=12, learning_rate=1e-4),
            )
            result = await train_stepcoder(
                lm,
                tok,
                problems,
                executor,
                config=config,
                out=Path(tmp) / "stepcoder",
                on_step=lambda s: print(
                    f"update {s.step}: CCCS stage {s.stage}, reward {s.mean_reward:+.2f}, "
                    f"pass {s.pass_rate:.2f}, FGO masked {s.masked_fraction:.2f}"
                ),
            )
            print(
                f"saved {result.checkpoint.name}/ (load with hf:DIR); final CCCS stage {result.final_stage}"
            )
        finally:
            await sandbox.aclose()


if __name__ == "__main__":
    asyncio.run(main())
