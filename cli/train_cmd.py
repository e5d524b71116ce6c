"""CLI commands: `phalanx train r3`, `phalanx train stepcoder`, `phalanx train arithmetic`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import typer

from phalanx.cli.errors import fail

train_app = typer.Typer(help="Train models: R³ reverse-curriculum RL, StepCoder PPO.", no_args_is_help=True)

_MODEL_HELP = "model to start from: hf:NAME|DIR (a store name or model directory) or r3:DIR"


def _bar(description: str, total: int) -> tuple[Any, Any]:
    from rich.progress import Progress, TextColumn

    bar = Progress(*Progress.get_default_columns(), TextColumn("{task.fields[status]}"))
    return bar, bar.add_task(description, total=total, status="")


def _ppo(batch_size: int, lr: float, kl_coef: float, max_new_tokens: int, seed: int) -> Any:
    """PPO settings from the shared options (one mini-batch per rollout); bad values end the command."""
    from pydantic import ValidationError

    from phalanx.models.trainers import PPOConfig

    try:
        return PPOConfig(
            batch_size=batch_size,
            mini_batch_size=batch_size,
            learning_rate=lr,
            kl_coef=kl_coef,
            max_new_tokens=max_new_tokens,
            seed=seed,
        )
    except ValidationError as exc:
        option = {"learning_rate": "--lr", "mini_batch_size": "--batch-size"}
        names = [str(e["loc"][0]) for e in exc.errors()]
        flags = [option.get(n, "--" + n.replace("_", "-")) for n in names]
        fail("; ".join(f"{flag}: {e['msg']}" for flag, e in zip(flags, exc.errors(), strict=True)))


@train_app.command("r3")
def r3(
    model: str = typer.Option(..., "--model", help=_MODEL_HELP),
    data: Path = typer.Option(
        ..., "--data", help="GSM8K-layout .jsonl (question, answer ending in '#### n')"
    ),
    out: Path = typer.Option(..., "--out", help="new directory for the r3: checkpoint"),
    schedule: str = typer.Option("staged", "--schedule", help="staged (k from n-1 back to 0) or mix"),
    style: str = typer.Option(
        "cot", "--style", help="cot (rationale, answer after ####) or pot (program run in the sandbox)"
    ),
    sandbox: str = typer.Option(
        "docker", "--sandbox", help="pot: docker (isolated) or local (development only)"
    ),
    steps: int = typer.Option(20, "--steps", min=1, help="PPO updates"),
    batch_size: int = typer.Option(4, "--batch-size", min=1, help="episodes per update"),
    lr: float = typer.Option(1e-5, "--lr", help="learning rate (official R³: 3e-7 for 7B models)"),
    kl_coef: float = typer.Option(0.05, "--kl-coef", help="KL penalty to the starting policy"),
    max_new_tokens: int = typer.Option(128, "--max-new-tokens", min=1, help="longest sampled response"),
    threshold: float = typer.Option(
        0.6, "--stage-threshold", help="staged: mean reward that advances a stage"
    ),
    steps_per_stage: int = typer.Option(
        20, "--steps-per-stage", min=1, help="staged: updates per stage at most"
    ),
    sft_steps: int = typer.Option(
        0, "--sft-steps", min=0, help="supervised warm-up steps before PPO (R³ step 1)"
    ),
    limit: int | None = typer.Option(None, "--limit", min=1, help="only the first N demonstrations"),
    seed: int = typer.Option(0, "--seed"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON line per update, no progress bar"),
) -> None:
    """R³: PPO from reverse-curriculum start states with the 1 / 0.2 / 0 outcome reward."""
    from phalanx.models import ModelError
    from phalanx.models.trainers import DataFileError, R3Config, run_r3
    from phalanx.sandbox import SandboxError

    if schedule not in ("staged", "mix"):
        fail(f"--schedule must be 'staged' or 'mix', got {schedule!r}")
    if style not in ("cot", "pot"):
        fail(f"--style must be 'cot' or 'pot', got {style!r}")
    ppo = _ppo(batch_size, lr, kl_coef, max_new_tokens, seed)
    config = R3Config(
        style=style,  # checked above
        schedule=schedule,
        steps=steps,
        stage_threshold=threshold,
        steps_per_stage=steps_per_stage,
        sft_steps=sft_steps,
        ppo=ppo,
        seed=seed,
    )
    bar, task = _bar("R³", steps)

    def on_step(s: Any) -> None:
        if as_json:
            typer.echo(s.model_dump_json())
        else:
            bar.start()  # on the first update: bad input fails before any bar is drawn
            bar.update(
                task, advance=1, status=f"stage {s.stage} reward {s.mean_score:.2f} acc {s.accuracy:.2f}"
            )

    runner = None
    try:
        if style == "pot":
            from phalanx.agents.pot import SandboxProgramRunner
            from phalanx.models.trainers import make_pot_reward

            runner = SandboxProgramRunner(sandbox, workers=min(batch_size, 4))
        reward = make_pot_reward(runner) if runner is not None else None
        result = run_r3(model, data, out, config=config, limit=limit, on_step=on_step, reward_fn=reward)
    except (DataFileError, ModelError, SandboxError) as exc:
        fail(str(exc))
    finally:
        bar.stop()
        if runner is not None:
            runner.close()
    if not as_json:
        last = result.steps[-1]
        typer.echo(
            f"{len(result.steps)} updates, final stage {result.final_stage}, last reward {last.mean_score:.3f}"
        )
    typer.echo(f"wrote {result.checkpoint} (load it with r3:{result.checkpoint})")


@train_app.command("stepcoder")
def stepcoder(
    model: str = typer.Option(..., "--model", help=_MODEL_HELP),
    data: Path | None = typer.Option(
        None, "--data", help="APPS+ .jsonl/.json or an APPS folder (default: the sample shipped with phalanx)"
    ),
    out: Path = typer.Option(..., "--out", help="new directory for the trained model (loads with hf:DIR)"),
    steps: int = typer.Option(20, "--steps", min=1, help="PPO updates"),
    batch_size: int = typer.Option(4, "--batch-size", min=1, help="programs sampled per update"),
    lr: float = typer.Option(1e-5, "--lr", help="learning rate"),
    kl_coef: float = typer.Option(0.05, "--kl-coef", help="KL penalty to the starting policy"),
    max_new_tokens: int = typer.Option(256, "--max-new-tokens", min=1, help="longest sampled completion"),
    stages: int = typer.Option(
        4, "--stages", min=1, help="CCCS stages (longest prefix first, full task last)"
    ),
    per_stage: int = typer.Option(20, "--programs-per-stage", min=1, help="CCCS: programs per stage"),
    fgo: bool = typer.Option(True, "--fgo/--no-fgo", help="mask unexecuted code out of the policy loss"),
    sandbox: str = typer.Option("docker", "--sandbox", help="docker (isolated) or local (development only)"),
    limit: int | None = typer.Option(None, "--limit", min=1, help="only the first N problems"),
    seed: int = typer.Option(0, "--seed"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON line per update, no progress bar"),
) -> None:
    """StepCoder: PPO on CCCS completion subtasks, sandboxed reward ladder, FGO-masked policy loss."""
    from phalanx.agents.stepcoder import (
        CurriculumSchedule,
        StepCoderError,
        StepCoderTrainConfig,
        run_stepcoder,
    )
    from phalanx.models import ModelError
    from phalanx.sandbox import SandboxError

    ppo = _ppo(batch_size, lr, kl_coef, max_new_tokens, seed)
    schedule = CurriculumSchedule(stages=min(stages, 100), advance="steps", steps_per_stage=per_stage)
    config = StepCoderTrainConfig(steps=steps, curriculum=schedule, ppo=ppo, fgo=fgo, seed=seed)
    bar, task = _bar("StepCoder", steps)

    def on_step(s: Any) -> None:
        if as_json:
            typer.echo(s.model_dump_json())
        else:
            bar.start()
            bar.update(
                task, advance=1, status=f"stage {s.stage} reward {s.mean_reward:+.2f} pass {s.pass_rate:.2f}"
            )

    try:
        result = asyncio.run(
            run_stepcoder(model, data, out, config=config, backend=sandbox, limit=limit, on_step=on_step)
        )
    except (StepCoderError, SandboxError, ModelError) as exc:
        fail(str(exc))
    finally:
        bar.stop()
    if not as_json:
        typer.echo(f"{len(result.steps)} updates, final CCCS stage {result.final_stage}")
    typer.echo(f"wrote {result.checkpoint} (load it with hf:{result.checkpoint})")


@train_app.command("arithmetic")
def arithmetic(
    out: Path = typer.Argument(..., help="the .jsonl file to write (GSM8K layout)"),
    n: int = typer.Option(200, "--n", min=1, help="how many problems"),
    seed: int = typer.Option(0, "--seed"),
    style: str = typer.Option("cot", "--style", help="cot (rationale lines) or pot (solution() body lines)"),
) -> None:
    """Write generated multi-step arithmetic word problems with rationales (data for `train r3`)."""
    from phalanx.models.trainers import generate_word_problems, write_gsm8k_jsonl

    if out.exists():
        fail(f"{out}: already exists; choose a new file")
    if style not in ("cot", "pot"):
        fail(f"--style must be 'cot' or 'pot', got {style!r}")
    write_gsm8k_jsonl(out, generate_word_problems(n, seed=seed, style=style))  # type: ignore[arg-type]
    typer.echo(f"wrote {n} problems to {out}")


def register(app: typer.Typer) -> None:
    """Add the `train` group to the root app."""
    app.add_typer(train_app, name="train")
