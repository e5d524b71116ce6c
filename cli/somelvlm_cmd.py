"""CLI commands: `phalanx somelvlm tasks|build-data|train|eval` (the social-media vision-language node)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import typer

from phalanx.cli.errors import fail

somelvlm_app = typer.Typer(
    name="somelvlm",
    help="SoMeLVLM: social-media tasks of five cognitive capabilities on a vision-language model.",
    no_args_is_help=True,
)

_DATA_HELP = 'JSON lines: {"task": "sentiment", "text": "...", "image": "img.png", "answer": "positive"}.'


def _posts(data: Path):
    from phalanx.models.somelvlm import PostDataError, load_posts

    try:
        return load_posts(data)
    except PostDataError as exc:
        fail(str(exc))


@somelvlm_app.command("tasks")
def tasks(as_json: bool = typer.Option(False, "--json", help="Print the templates as JSON.")) -> None:
    """List the built-in tasks of the five cognitive capabilities."""
    from phalanx.models.somelvlm import TASKS

    for template in TASKS.values():
        if as_json:
            typer.echo(template.model_dump_json())
        else:
            answers = ", ".join(template.labels) if template.labels else "free text"
            typer.echo(f"{template.capability:<11} {template.name:<15} {answers}")


@somelvlm_app.command("build-data")
def build_data(
    data: Path = typer.Argument(..., help=_DATA_HELP),
    out: Path = typer.Option(..., "--out", help="JSON-lines file of instruction conversations to write."),
    seed: int = typer.Option(0, help="Seed of the phrasing chosen for each post."),
) -> None:
    """Turn labelled posts into SoMeLVLM-style instruction conversations (OpenAI message format)."""
    from phalanx.models.somelvlm import PostDataError, build_instruction_data

    try:
        conversations = build_instruction_data(_posts(data), seed=seed)
    except PostDataError as exc:
        fail(str(exc))
    with out.open("w") as handle:
        for conversation in conversations:
            handle.write(json.dumps({"messages": [m.to_openai() for m in conversation]}) + "\n")
    typer.echo(f"wrote {len(conversations)} conversations to {out}")


def _print_loss(log: dict[str, float]) -> None:
    if "loss" in log:
        typer.echo(f"loss {log['loss']:.4f}")


@somelvlm_app.command("train")
def train(
    base: Path = typer.Argument(..., help="A LLaVA-family model folder (model + processor)."),
    data: Path = typer.Option(..., "--data", help=_DATA_HELP),
    out: Path = typer.Option(..., "--out", help="Checkpoint folder to write (load it as somelvlm:OUT)."),
    steps: int = typer.Option(100, help="Optimiser steps."),
    batch_size: int = typer.Option(4, help="Posts per step."),
    lr: float = typer.Option(2e-5, help="Learning rate."),
    seed: int = typer.Option(0, help="Random seed."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Fine-tune a vision-language model on labelled posts with TRL and save a somelvlm: checkpoint."""
    from phalanx.models import ModelError
    from phalanx.models.somelvlm import SFTOptions, sft_somelvlm

    posts = _posts(data)
    try:
        options = SFTOptions(max_steps=steps, batch_size=batch_size, learning_rate=lr, seed=seed)
        result = sft_somelvlm(
            base,
            posts,
            out,
            options=options,
            on_log=None if as_json else _print_loss,
        )
    except (ModelError, ValueError) as exc:
        fail(str(exc))
    summary = {"checkpoint": str(result.checkpoint), "steps": len(result.losses)}
    summary["first_loss"], summary["last_loss"] = result.losses[0], result.losses[-1]
    typer.echo(json.dumps(summary) if as_json else f"saved {result.checkpoint}")


@somelvlm_app.command("eval")
def evaluate(
    model: str = typer.Argument(..., help="Model spec: somelvlm:DIR, vlm:DIR, openai:URL#NAME, scripted:..."),
    data: Path = typer.Option(..., "--data", help=_DATA_HELP),
    max_new_tokens: int = typer.Option(32, help="Reply budget per post."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Score a model on labelled posts: accuracy or token F1 per task, averaged per capability."""
    from phalanx.models import GenerationConfig, ModelError, load_model
    from phalanx.models.somelvlm import evaluate_somelvlm

    posts = _posts(data)
    try:
        chat_model = load_model(model)
        report = asyncio.run(
            evaluate_somelvlm(chat_model, posts, config=GenerationConfig(max_new_tokens=max_new_tokens))
        )
    except ModelError as exc:
        fail(str(exc))
    if as_json:
        typer.echo(report.model_dump_json())
        return
    for score in report.tasks.values():
        typer.echo(
            f"{score.capability:<11} {score.task:<15} {score.metric:<9} {score.score:.3f} ({score.count})"
        )
    for capability, value in report.capabilities.items():
        typer.echo(f"capability {capability:<11} {value:.3f}")
    typer.echo(f"overall {report.overall:.3f}")


def register(app: typer.Typer) -> None:
    """Add `phalanx somelvlm` to the root app."""
    app.add_typer(somelvlm_app)
