"""CLI commands: `phalanx regions find | ablate | train` (linguistic regions, Zhang et al. 2024).

Thin layer over `phalanx.models.trainers`: parse, call, render.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from phalanx.cli.errors import fail

regions_app = typer.Typer(
    no_args_is_help=True,
    help="Linguistic regions: find them (|grad ⊙ param| over languages), ablate them, train with one frozen.",
)

_MODEL = typer.Option(
    ..., "--model", "-m", help="Model directory or store name (e.g. smollm2-135m-instruct)."
)
_LANGUAGES = typer.Option("en,de,es,it,pl,ru,zh", "--languages", "-l", help="Comma-separated language codes.")
_TEXT = typer.Option(
    "fortunes",
    "--text",
    help="'fortunes' (Debian's fortunes-* packages) or a folder: LANG/*.txt or LANG.txt.",
)


def bar(as_json: bool) -> Any:
    """A rich progress bar on stderr (hidden under --json)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=as_json,
    )


def _languages(value: str) -> list[str]:
    languages = [x.strip() for x in value.split(",") if x.strip()]
    if not languages:
        fail("--languages needs at least one language code (e.g. en,de,zh)")
    return languages


def _load(model: str, languages: list[str], text: str) -> tuple[Any, Any, dict[str, list[str]]]:
    from phalanx.models import ModelError
    from phalanx.models.trainers import load_texts, load_trainable

    try:
        texts = load_texts(languages, text)
        loaded, tokenizer = load_trainable(model)
    except ModelError as exc:
        fail(str(exc))
    return loaded, tokenizer, texts


@regions_app.command("find")
def find(
    model: str = _MODEL,
    out: Path = typer.Option(
        ..., "--out", "-o", help="Folder for the masks (NAME.safetensors, regions.json)."
    ),
    languages: str = _LANGUAGES,
    text: str = _TEXT,
    samples: int = typer.Option(
        64, "--samples", min=1, help="Token blocks per language (the paper: 10k-100k)."
    ),
    seq_len: int = typer.Option(128, "--seq-len", min=2, help="Tokens per block (the paper: 512)."),
    fraction: float = typer.Option(0.01, "--fraction", min=1e-6, max=1.0, help="Share of each matrix (1 %)."),
    batch_size: int = typer.Option(4, "--batch-size", min=1),
    monolingual: bool = typer.Option(False, "--monolingual", help="Also find each language's own region."),
    seed: int = typer.Option(0, "--seed"),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Find the core region (top FRACTION per matrix), the bottom/random controls and monolingual regions."""
    from phalanx.models import ModelError
    from phalanx.models.trainers import (
        RegionSearchSettings,
        dimension_concentration,
        find_regions,
        save_region_masks,
    )

    langs = _languages(languages)
    loaded, tokenizer, texts = _load(model, langs, text)
    settings = RegionSearchSettings(
        samples=samples,
        seq_len=seq_len,
        fraction=fraction,
        batch_size=batch_size,
        monolingual=monolingual,
        seed=seed,
    )
    with bar(as_json) as progress:
        task = progress.add_task("gradients", total=samples * len(langs), status="")
        done: dict[str, int] = {}

        def report(language: str, n: int, total: int) -> None:
            done[language] = n
            progress.update(task, completed=sum(done.values()), status=language)

        try:
            regions = find_regions(loaded, tokenizer, texts, settings, progress=report)
        except ModelError as exc:
            fail(str(exc))
    folder = save_region_masks(out, regions)
    dims = dimension_concentration(regions["core"])
    summary = {
        "out": str(folder),
        "regions": {name: {"share": r.fraction, **r.info.model_dump()} for name, r in regions.items()},
        "core_hidden_dims": dims.hidden_dims,
        "core_hidden_share": dims.hidden_share,
        "core_hidden_uniform_share": dims.hidden_uniform_share,
    }
    if as_json:
        typer.echo(json.dumps(summary))
        return
    for name, region in regions.items():
        typer.echo(f"{name:12s} {region.fraction:.4%} of {len(region.masks)} block matrices")
    dims_text = ", ".join(f"{d} ({n})" for d, n in dims.hidden_dims)
    typer.echo(
        f"core region's busiest hidden dimensions: {dims_text} — {dims.hidden_share:.1%} of its elements "
        f"(evenly spread: {dims.hidden_uniform_share:.1%})"
    )
    typer.echo(f"masks: {folder}")


@regions_app.command("ablate")
def ablate(
    model: str = _MODEL,
    regions: Path = typer.Option(..., "--regions", "-r", help="A folder written by `phalanx regions find`."),
    names: str = typer.Option("core,random,bottom", "--names", help="Regions of the folder to ablate."),
    languages: str = _LANGUAGES,
    text: str = _TEXT,
    eval_samples: int = typer.Option(8, "--eval-samples", min=1, help="Held-out blocks per language."),
    mode: str = typer.Option("zero", "--mode", help="zero (remove the region) or perturb (relative noise)."),
    scale: float = typer.Option(
        1.0, "--scale", min=0.0, help="Noise of --mode perturb, relative to |value|."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Perplexity per language with the model intact and with each region ablated (held-out text)."""
    from rich.console import Console
    from rich.table import Table

    from phalanx.models import ModelError
    from phalanx.models.trainers import ablation_report, language_blocks, load_region_masks

    if mode not in ("zero", "perturb"):
        fail(f"--mode must be zero or perturb, got {mode!r}")
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    try:
        masks = load_region_masks(regions, wanted)
    except ModelError as exc:
        fail(str(exc))
    langs = _languages(languages)
    loaded, tokenizer, texts = _load(model, langs, text)
    info = next(iter(masks.values())).info
    # Held out: the blocks after those the gradients were accumulated over.
    seq_len, offset = int(getattr(info, "seq_len", 128)), int(getattr(info, "samples", 0))
    try:
        blocks = language_blocks(tokenizer, texts, seq_len=seq_len, count=eval_samples, offset=offset)
        with bar(as_json) as progress:
            task = progress.add_task("perplexity", total=len(langs) * (len(masks) + 1), status="")
            report = ablation_report(
                loaded,
                blocks,
                masks,
                mode=mode,
                scale=scale,
                progress=lambda what: progress.update(task, advance=1, status=what),
            )
    except ModelError as exc:
        fail(str(exc))
    if as_json:
        typer.echo(report.model_dump_json())
        return
    table = Table(title=f"perplexity per language ({mode}; ratio to intact)")
    table.add_column("language")
    for variant in report.perplexity:
        table.add_column(variant)
    for lang in langs:
        cells = [f"{report.perplexity['intact'][lang]:.2f}"]
        cells += [f"{report.perplexity[n][lang]:.4g} (x{report.ratio[n][lang]:.3g})" for n in masks]
        table.add_row(lang, *cells)
    Console().print(table)


@regions_app.command("train")
def train(
    model: str = _MODEL,
    regions: Path = typer.Option(..., "--regions", "-r", help="A folder written by `phalanx regions find`."),
    out: Path = typer.Option(..., "--out", "-o", help="Checkpoint directory (load it with regions:OUT)."),
    region: str = typer.Option("core", "--region", help="The region to freeze (a name in the folder)."),
    languages: str = typer.Option("zh", "--languages", "-l", help="Languages to train on."),
    text: str = _TEXT,
    steps: int = typer.Option(100, "--steps", min=1, help="Optimizer steps."),
    batch_size: int = typer.Option(4, "--batch-size", min=1),
    learning_rate: float = typer.Option(5e-5, "--lr", min=0.0, help="Learning rate (official: 5e-5)."),
    weight_decay: float = typer.Option(
        0.001, "--weight-decay", min=0.0, help="AdamW decay (official: 0.001)."
    ),
    seq_len: int = typer.Option(128, "--seq-len", min=2),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Further pre-train with REGION frozen (restored after every step) and write a regions: checkpoint."""
    from phalanx.models import ModelError
    from phalanx.models.trainers import (
        FreezeTrainSettings,
        language_blocks,
        load_region_masks,
        save_region_frozen,
        train_region_frozen,
    )

    try:
        mask = load_region_masks(regions, [region])[region]
    except ModelError as exc:
        fail(str(exc))
    langs = _languages(languages)
    loaded, tokenizer, texts = _load(model, langs, text)
    settings = FreezeTrainSettings(
        steps=steps, batch_size=batch_size, learning_rate=learning_rate, weight_decay=weight_decay
    )
    # The trainer cycles over the blocks; 256 per language is plenty of distinct text for a CPU run.
    per_language = min(256, max(1, -(-steps * batch_size // len(langs))))
    try:
        blocks = language_blocks(tokenizer, texts, seq_len=seq_len, count=per_language)
    except ModelError as exc:
        fail(str(exc))
    rows = [b for lang in langs for b in blocks[lang]]
    with bar(as_json) as progress:
        task = progress.add_task("training", total=steps, status="")
        result = train_region_frozen(
            loaded,
            rows,
            mask,
            settings,
            progress=lambda step, _total, loss: progress.update(
                task, completed=step, status=f"loss {loss:.3f}"
            ),
        )
    saved = save_region_frozen(
        out, loaded, tokenizer, mask, base_model=model, trained_on=langs, settings=settings
    )
    if as_json:
        typer.echo(json.dumps({"out": str(saved), **result.model_dump()}))
        return
    first, last = result.losses[0], result.losses[-1]
    typer.echo(
        f"loss {first:.3f} -> {last:.3f} over {steps} steps; region {region} intact: {result.region_intact}"
    )
    typer.echo(f"checkpoint: {saved} (load it with regions:{saved})")


def register(app: typer.Typer) -> None:
    """Add `phalanx regions` to the root app."""
    app.add_typer(regions_app, name="regions")
