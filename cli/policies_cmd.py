"""CLI commands: `phalanx policies screen | show` (ToolSword safety policies)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from phalanx.cli.errors import fail

policies_app = typer.Typer(
    help="ToolSword safety policies: screen prompt sets, show a policy.", no_args_is_help=True
)


_FORMAT = typer.Option(
    "--format", help="text, jsonl, json or csv (default: by the file's extension; others are text)."
)
_COLUMN = typer.Option(
    "--column",
    help="CSV column / JSON field holding the text (default: prompt, query, goal, question, text).",
)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(policies_app, name="policies")


@policies_app.command("screen")
def screen(
    file: Annotated[
        Path,
        typer.Argument(help="Prompts: .txt (one per line), .jsonl / .json (objects or strings) or .csv."),
    ],
    stage: Annotated[
        str, typer.Option("--stage", help="input (user turns) or output (answers / tool outputs).")
    ] = "input",
    policy: Annotated[
        str, typer.Option("--policy", help="default, strict, none, or a policy YAML file.")
    ] = "default",
    summary: Annotated[
        bool, typer.Option("--summary", help="Print one JSON line of counts instead of a line per query.")
    ] = False,
    file_format: Annotated[str | None, _FORMAT] = None,
    column: Annotated[str | None, _COLUMN] = None,
) -> None:
    """Print one JSON line per query: {"query", "blocked", "action", "guard", "reason"}.

    With --summary: {"n", "blocked", "blocked_rate", "by_guard"} for the whole file.
    """
    import asyncio

    from phalanx.policies import PolicyError, screen_queries, summarize_screen
    from phalanx.tools import RecordFileError, read_prompts

    async def go() -> None:
        rows = []
        queries = [p.text for p in read_prompts(file, format=file_format, column=column)]
        async for row in screen_queries(queries, policy, stage):
            rows.append(row)
            if not summary:
                typer.echo(json.dumps(row, ensure_ascii=False))
        if summary:
            typer.echo(json.dumps(summarize_screen(rows).model_dump()))

    try:
        asyncio.run(go())
    except (PolicyError, RecordFileError) as exc:
        fail(str(exc))


@policies_app.command("show")
def show(
    policy: Annotated[str, typer.Argument(help="default, strict, none, or a policy YAML file.")] = "default",
) -> None:
    """Print a policy's resolved configuration as JSON (every guard, action and threshold)."""
    from phalanx.policies import PolicyError, load_policy

    try:
        typer.echo(load_policy(policy).model_dump_json(indent=1))
    except PolicyError as exc:
        fail(str(exc))


def _progress_bar():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=True,
    )


@contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int, str], None]]:
    """A progress bar, as the `progress(done, total, label)` callback the training functions take."""
    with _progress_bar() as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total, desc: bar.update(task, completed=done, total=total, description=desc)


def _fit_and_save(
    read_sets: Callable[..., tuple[Any, Any]],
    fit: Callable[..., Any],
    out: Path,
    label: str,
    seeds: str | None,
    harmful: list[Path] | None,
    benign: list[Path] | None,
    file_format: str | None,
    column: str | None,
    **options: Any,
) -> None:
    """The shape of `build-harm-index` and `train-input-guard`: read the sets (with the seeds unless
    `--seeds none`), fit with a progress bar, save, print the cross-validated metrics as JSON."""
    from phalanx.policies import PolicyError, SentenceEmbedder, load_seeds

    try:
        pos, neg = read_sets(
            None if seeds == "none" else load_seeds(seeds),
            harmful or (),
            benign or (),
            format=file_format,
            column=column,
        )
        with _progress(label) as progress:
            fitted = fit(pos, neg, SentenceEmbedder.shared(), progress=progress, **options)
        fitted.save(out)
    except PolicyError as exc:
        fail(str(exc))
    typer.echo(json.dumps({"out": str(out), **fitted.meta["cv"]}))


@policies_app.command("build-harm-index")
def build_harm_index(
    out: Annotated[Path, typer.Option("--out", help="Where to write the index (.npz).")],
    harmful: Annotated[
        list[Path] | None,
        typer.Option(
            "--harmful",
            help="Harmful-text corpus (.txt one per line; .jsonl/.json/.csv with 'text'); repeatable.",
        ),
    ] = None,
    benign: Annotated[
        list[Path] | None,
        typer.Option("--benign", help="Benign-text corpus, same format; repeatable."),
    ] = None,
    fpr: Annotated[
        float, typer.Option("--fpr", help="Target benign false-positive rate (cross-validated).")
    ] = 0.05,
    k: Annotated[int, typer.Option("--k", help="Neighbours averaged per side.")] = 5,
    seeds: Annotated[
        str | None,
        typer.Option("--seeds", help="Seed file whose sentences join the corpora ('none' to leave out)."),
    ] = None,
    file_format: Annotated[str | None, _FORMAT] = None,
    column: Annotated[str | None, _COLUMN] = None,
) -> None:
    """Build the harmful-feedback guard's corpus index and print its cross-validated metrics as JSON.

    Without --harmful/--benign it rebuilds the shipped index from the shipped corpora. Point a
    policy at the result with `options: {harm_index: PATH}` under `harmful_feedback`.
    """
    from phalanx.policies import build_index, default_corpora

    _fit_and_save(
        default_corpora,
        build_index,
        out,
        "building",
        seeds,
        harmful,
        benign,
        file_format,
        column,
        k=k,
        fpr=fpr,
    )


@policies_app.command("eval-harm-index")
def eval_harm_index(
    index: Annotated[
        str | None, typer.Option("--index", help="Index file (default: the shipped one).")
    ] = None,
    harmful: Annotated[
        list[Path] | None,
        typer.Option("--harmful", help="Labelled-harmful texts; repeatable (default: shipped held-out set)."),
    ] = None,
    benign: Annotated[
        list[Path] | None,
        typer.Option("--benign", help="Labelled-benign texts; repeatable (default: shipped held-out set)."),
    ] = None,
    file_format: Annotated[str | None, _FORMAT] = None,
    column: Annotated[str | None, _COLUMN] = None,
) -> None:
    """Measure a harm index on labelled texts the way the guard decides; prints recall and FPR as JSON."""
    from phalanx.policies import (
        HarmCorpusIndex,
        PolicyError,
        SentenceEmbedder,
        evaluate_index,
        heldout_corpora,
    )

    try:
        h, b = heldout_corpora(harmful or (), benign or (), format=file_format, column=column)
        loaded = HarmCorpusIndex.load(index)
        with _progress_bar() as bar:
            task = bar.add_task("scoring", total=len(h) + len(b))
            result = evaluate_index(
                loaded,
                h,
                b,
                SentenceEmbedder.shared(),
                progress=lambda done, total, label: bar.update(task, completed=done, description=label),
            )
    except PolicyError as exc:
        fail(str(exc))
    typer.echo(json.dumps(result))


@policies_app.command("train-input-guard")
def train_input_guard(
    out: Annotated[Path, typer.Option("--out", help="Where to write the classifier (.npz).")] = Path(
        "request_classifier.npz"
    ),
    harmful: Annotated[
        list[Path] | None,
        typer.Option(
            "--harmful",
            help="Harmful requests (.txt one per line; .jsonl/.json/.csv records); repeatable "
            "(default: the shipped training set).",
        ),
    ] = None,
    benign: Annotated[
        list[Path] | None,
        typer.Option(
            "--benign", help="Benign requests, same formats; repeatable (default: the shipped set)."
        ),
    ] = None,
    fpr: Annotated[
        float,
        typer.Option(
            "--fpr", help="Target false-block rate on held-out benign sources (sets the threshold)."
        ),
    ] = 0.02,
    head: Annotated[str, typer.Option("--head", help="logistic or mlp.")] = "logistic",
    c: Annotated[float, typer.Option("--c", help="Inverse regularisation strength of the head.")] = 0.1,
    rephrase: Annotated[
        int,
        typer.Option(
            "--rephrase",
            help="Restatements per short request in other request forms, on both sides (0: none).",
        ),
    ] = 3,
    seeds: Annotated[
        str | None,
        typer.Option(
            "--seeds", help="Seed file whose requests join the training sets ('none' to leave out)."
        ),
    ] = None,
    file_format: Annotated[str | None, _FORMAT] = None,
    column: Annotated[str | None, _COLUMN] = None,
) -> None:
    """Train the input stage's request classifier; print its leave-one-source-out metrics as JSON.

    Without --harmful/--benign it rebuilds the shipped classifier from the shipped sets and seeds.
    Point a policy at the result with `request_classifier: {options: {model: PATH}}`.
    """
    from phalanx.policies import train_request_classifier, training_sets

    _fit_and_save(
        training_sets,
        train_request_classifier,
        out,
        "training",
        seeds,
        harmful,
        benign,
        file_format,
        column,
        head=head,
        c=c,
        target_fpr=fpr,
        rephrase=rephrase,
    )


@policies_app.command("eval-input-guard")
def eval_input_guard(
    harmful: Annotated[
        list[Path] | None,
        typer.Option(
            "--harmful", help="Harmful requests; repeatable (default: the shipped evaluation sets)."
        ),
    ] = None,
    benign: Annotated[
        list[Path] | None,
        typer.Option("--benign", help="Benign requests; repeatable (default: the shipped evaluation sets)."),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Classifier file (default: the shipped one).")
    ] = None,
    file_format: Annotated[str | None, _FORMAT] = None,
    column: Annotated[str | None, _COLUMN] = None,
) -> None:
    """Measure the request classifier alone: detection on harmful, false blocks on benign, per file, as JSON."""
    from phalanx.policies import (
        PolicyError,
        RequestClassifier,
        SentenceEmbedder,
        evaluate_request_classifier,
        heldout_requests,
    )

    try:
        h, b = heldout_requests(harmful or (), benign or (), format=file_format, column=column)
        loaded = RequestClassifier.load(model)
        with _progress("scoring") as progress:
            result = evaluate_request_classifier(
                loaded,
                h,
                b,
                SentenceEmbedder.shared(),
                progress=progress,
            )
    except PolicyError as exc:
        fail(str(exc))
    typer.echo(json.dumps(result))
