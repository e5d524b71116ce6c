"""CLI commands: `phalanx hag search | tune` (HAG data and instruction tuning, Wang et al. 2024).

Thin layer over `phalanx.models.trainers`: parse, call, render.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import typer

from phalanx.cli.errors import fail
from phalanx.cli.regions_cmd import bar

hag_app = typer.Typer(
    no_args_is_help=True,
    help="HAG: search each sample's best decoding settings, then tune a model to choose them (hag:).",
)


@hag_app.command("search")
def search(
    model: str = typer.Option(
        ..., "--model", "-m", help="Model spec answering the samples (e.g. hf:smollm2-135m-instruct)."
    ),
    data: Path = typer.Option(
        ..., "--data", "-d", help='JSONL of {"prompt", "reference", "metric"?, "task"?}.'
    ),
    out: Path = typer.Option(..., "--out", "-o", help="JSONL of HAG records (appended; re-run to resume)."),
    generations: int = typer.Option(2, "--generations", min=1, help="Replies per sampling configuration."),
    max_new_tokens: int = typer.Option(
        64, "--max-new-tokens", min=1, help="Reply length of every configuration."
    ),
    keep: int = typer.Option(3, "--keep", min=1, help="Grid points surviving the pruning."),
    rounds: int = typer.Option(3, "--rounds", min=0, help="Greedy refinement passes per survivor."),
    max_evaluations: int = typer.Option(
        60, "--max-evaluations", min=1, help="Configurations scored per sample."
    ),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Use only the first N samples."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Find each sample's best decoding configuration (coarse grid, pruning, greedy refinement)."""
    from phalanx.models import ModelError, load_model
    from phalanx.models.trainers import SearchSpace, build_hag_dataset, load_samples

    try:
        samples = load_samples(data)[:limit]
        space = SearchSpace(
            max_new_tokens=max_new_tokens, keep=keep, rounds=rounds, max_evaluations=max_evaluations
        )
        chat = load_model(model)
    except ModelError as exc:
        fail(str(exc))

    async def run() -> list:
        try:
            with bar(as_json) as progress:
                task = progress.add_task("searching", total=len(samples), status="")

                def report(index: int, record) -> None:
                    status = (
                        "done before"
                        if record is None
                        else f"score {record.default_score:.2f} -> {record.score:.2f}"
                    )
                    progress.update(task, completed=index + 1, status=status)

                return await build_hag_dataset(
                    chat, samples, space=space, generations=generations, out=out, progress=report
                )
        finally:
            await chat.aclose()

    try:
        records = asyncio.run(run())
    except ModelError as exc:
        fail(f"{exc} (records found so far are in {out}; re-run to continue)")
    default = sum(r.default_score for r in records) / len(records)
    best = sum(r.score for r in records) / len(records)
    if as_json:
        typer.echo(
            json.dumps(
                {"out": str(out), "records": len(records), "default_score": default, "best_score": best}
            )
        )
        return
    typer.echo(
        f"{len(records)} records -> {out}; mean score: greedy default {default:.3f}, searched {best:.3f}"
    )


@hag_app.command("tune")
def tune(
    model: str = typer.Option(..., "--model", "-m", help="Model directory or store name to fine-tune."),
    data: Path = typer.Option(..., "--data", "-d", help="HAG records written by `phalanx hag search`."),
    out: Path = typer.Option(..., "--out", "-o", help="Checkpoint directory (load it with hag:OUT)."),
    steps: int = typer.Option(50, "--steps", min=1, help="Optimizer steps."),
    batch_size: int = typer.Option(4, "--batch-size", min=1),
    learning_rate: float | None = typer.Option(
        None, "--lr", min=0.0, help="Default 5e-5 (2e-4 with --lora)."
    ),
    lora: bool = typer.Option(
        False, "--lora", help="Train a LoRA adapter, merged into the weights before saving."
    ),
    lora_r: int = typer.Option(8, "--lora-r", min=1),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Supervised fine-tuning (TRL SFTTrainer) on HAG records -> a checkpoint hag: loads."""
    from phalanx.models import ModelError
    from phalanx.models.trainers import HagTuneSettings, load_records, load_trainable, tune_hag

    try:
        records = load_records(data)
        loaded, tokenizer = load_trainable(model)
    except ModelError as exc:
        fail(str(exc))
    settings = HagTuneSettings(
        steps=steps,
        batch_size=batch_size,
        learning_rate=learning_rate or (2e-4 if lora else 5e-5),
        lora=lora,
        lora_r=lora_r,
    )
    with bar(as_json) as progress:
        task = progress.add_task("tuning", total=steps, status="")
        try:
            result = tune_hag(
                loaded,
                tokenizer,
                records,
                out,
                settings,
                base_model=model,
                progress=lambda step, _n, loss: progress.update(
                    task, completed=step, status=f"loss {loss:.3f}"
                ),
            )
        except ModelError as exc:
            fail(str(exc))
    if as_json:
        typer.echo(result.model_dump_json())
        return
    typer.echo(
        f"loss {result.losses[0]:.3f} -> {result.losses[-1]:.3f} over {steps} steps{' (LoRA, merged)' if lora else ''}"
    )
    typer.echo(f"checkpoint: {result.out} (load it with hag:{result.out})")


def register(app: typer.Typer) -> None:
    """Add `phalanx hag` to the root app."""
    app.add_typer(hag_app, name="hag")
