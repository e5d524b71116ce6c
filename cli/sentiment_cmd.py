"""CLI commands: `phalanx sentiment train|eval|lodo` (backdoor-adjusted sentiment and its ERM baseline)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from phalanx.cli.errors import fail

sentiment_app = typer.Typer(
    name="sentiment",
    help="Domain-generalising sentiment: backdoor adjustment over domain prototypes vs ERM.",
    no_args_is_help=True,
)

_DATA_HELP = "Amazon multi-domain layout: a folder with DOMAIN/positive.review and negative.review."
_SYNTHETIC_HELP = "Use phalanx's synthetic multi-domain reviews (spurious domain cue) instead of --data."
# Options several commands share (typer reads these as defaults; they are never mutated).
_DATA = typer.Option(None, "--data", help=_DATA_HELP)
_SYNTHETIC = typer.Option(False, "--synthetic", help=_SYNTHETIC_HELP)
_PER_DOMAIN = typer.Option(200, help="Synthetic reviews per domain.")
_CUE = typer.Option(0.8, help="How strongly the synthetic domain cue predicts the label.")
_EPOCHS = typer.Option(4, help="Passes over the training reviews.")


def _reviews(data: Path | None, synthetic: bool, per_domain: int, cue: float, shifted: bool, seed: int):
    from phalanx.models.sentiment import ReviewDataError, load_amazon_reviews, synthetic_reviews

    if (data is None) == (not synthetic):
        fail("give exactly one of --data PATH or --synthetic")
    try:
        if data is not None:
            return load_amazon_reviews(data)
        return synthetic_reviews(per_domain=per_domain, cue_strength=cue, shifted=shifted, seed=seed)
    except ReviewDataError as exc:
        fail(str(exc))


def _options(**values: Any):
    from pydantic import ValidationError

    from phalanx.models.sentiment import TrainOptions

    try:
        return TrainOptions(**{k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        fail("; ".join(f"--{'-'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))


@sentiment_app.command("train")
def train(
    out: Path = typer.Option(..., "--out", help="Checkpoint folder to write (load it as sentiment:OUT)."),
    data: Path | None = _DATA,
    synthetic: bool = _SYNTHETIC,
    method: str = typer.Option("causal", help="causal (backdoor adjustment) or erm (baseline)."),
    encoder: str = typer.Option("minilm", help="minilm (offline all-MiniLM-L6-v2), tiny, or a model folder."),
    epochs: int = _EPOCHS,
    batch_size: int = typer.Option(32, help="Reviews per optimiser step."),
    lr: float | None = typer.Option(None, help="Learning rate (default 3e-3 for tiny, 5e-5 otherwise)."),
    per_domain: int = _PER_DOMAIN,
    cue_strength: float = _CUE,
    seed: int = typer.Option(0, help="Random seed."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Train a sentiment classifier on multi-domain reviews and save it as a checkpoint."""
    from rich.progress import Progress

    from phalanx.models import ModelError
    from phalanx.models.sentiment import evaluate_sentiment, save_sentiment_checkpoint, train_sentiment

    reviews = _reviews(data, synthetic, per_domain, cue_strength, False, seed)
    options = _options(
        method=method, encoder=encoder, epochs=epochs, batch_size=batch_size, learning_rate=lr, seed=seed
    )
    try:
        with Progress(transient=True, disable=as_json) as progress:
            task = progress.add_task(f"training {method}", total=None)
            model = train_sentiment(
                reviews, options, on_step=lambda s, n, loss: progress.update(task, completed=s, total=n)
            )
        save_sentiment_checkpoint(out, model)
    except ModelError as exc:
        fail(str(exc))
    report = evaluate_sentiment(model, reviews)
    summary = {"checkpoint": str(out), "method": method, "domains": model.config.domains}
    summary["train_accuracy"] = round(report.accuracy, 4)
    typer.echo(json.dumps(summary) if as_json else f"saved {out} (train accuracy {report.accuracy:.3f})")


@sentiment_app.command("eval")
def evaluate(
    checkpoint: Path = typer.Argument(..., help="A folder written by `phalanx sentiment train`."),
    data: Path | None = _DATA,
    synthetic: bool = _SYNTHETIC,
    shifted: bool = typer.Option(False, help="Synthetic reviews with the domain cue broken."),
    per_domain: int = _PER_DOMAIN,
    cue_strength: float = _CUE,
    seed: int = typer.Option(1, help="Seed of the synthetic reviews."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Accuracy of a saved classifier, overall and per domain."""
    from phalanx.models import ModelError
    from phalanx.models.sentiment import evaluate_sentiment, load_sentiment_checkpoint

    reviews = _reviews(data, synthetic, per_domain, cue_strength, shifted, seed)
    try:
        report = evaluate_sentiment(load_sentiment_checkpoint(checkpoint), reviews)
    except ModelError as exc:
        fail(str(exc))
    if as_json:
        typer.echo(report.model_dump_json())
        return
    for domain, score in report.domains.items():
        typer.echo(f"{domain:<14} {score.accuracy:.3f}  ({score.count} reviews)")
    typer.echo(f"{'all':<14} {report.accuracy:.3f}  ({report.count} reviews)")


@sentiment_app.command("lodo")
def lodo(
    data: Path | None = _DATA,
    synthetic: bool = _SYNTHETIC,
    encoder: str = typer.Option("minilm", help="minilm, tiny, or a model folder."),
    epochs: int = _EPOCHS,
    held_out: str | None = typer.Option(None, help="Comma-separated domains to hold out (default: all)."),
    per_domain: int = _PER_DOMAIN,
    cue_strength: float = _CUE,
    seed: int = typer.Option(0, help="Random seed."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON line per method."),
) -> None:
    """Leave-one-domain-out: train ERM and the causal classifier without each domain, test on it.

    With --synthetic the held-out domain's reviews have the spurious cue broken, as in a
    new domain where it no longer predicts the label.
    """
    from phalanx.models import ModelError
    from phalanx.models.sentiment import leave_one_domain_out

    reviews = _reviews(data, synthetic, per_domain, cue_strength, False, seed)
    targets = _reviews(None, True, per_domain, cue_strength, True, seed + 1) if synthetic else None
    options = _options(encoder=encoder, epochs=epochs, seed=seed)
    domains = held_out.split(",") if held_out else None
    try:
        report = leave_one_domain_out(
            reviews,
            options,
            target_reviews=targets,
            held_out=domains,
            on_run=None if as_json else lambda d, m: typer.echo(f"holding out {d}: training {m}", err=True),
        )
    except ModelError as exc:
        fail(str(exc))
    for method in ("erm", "causal"):
        mean = {k: round(v, 4) for k, v in report.mean(method).items()}
        if as_json:
            rows = {
                r.held_out: {"source": round(r.source_accuracy, 4), "target": round(r.target_accuracy, 4)}
                for r in report.rows
                if r.method == method
            }
            typer.echo(json.dumps({"method": method, **mean, "held_out": rows}))
        else:
            typer.echo(
                f"{method:<7} source {mean['source_accuracy']:.3f}  held-out {mean['target_accuracy']:.3f}"
                f"  drop {mean['drop']:.3f}"
            )


def register(app: typer.Typer) -> None:
    """Add `phalanx sentiment` to the root app."""
    app.add_typer(sentiment_app)
