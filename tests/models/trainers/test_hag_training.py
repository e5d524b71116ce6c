"""HAG data and tuning: the search prunes a coarse grid then refines off-grid, records are the stage-1
conversation the `hag:` node asks with a completion `parse_choice` reads back, searching resumes, and
TRL SFT (full and LoRA, merged) writes a checkpoint `hag:` loads; CLI and example end to end."""

from __future__ import annotations

import asyncio
import json
import runpy
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from phalanx.cli.app import app
from phalanx.models import Message, load_model
from phalanx.models.checkpoints import MANIFEST
from phalanx.models.hag import INSTRUCTION, HagConfig, parse_choice, stage_one_messages
from phalanx.models.trainers import (
    METRICS,
    HagDataError,
    HagSample,
    HagTuneSettings,
    SearchResult,
    SearchSpace,
    build_hag_dataset,
    coarse_grid,
    load_records,
    load_samples,
    load_trainable,
    search_config,
    to_record,
    tune_hag,
)

ROOT = Path(__file__).resolve().parents[3]


def _objective(peak_t: float = 0.9, peak_p: float = 0.65):
    calls: list[HagConfig] = []

    async def evaluate(config: HagConfig) -> float:
        calls.append(config)
        if config.strategy == "greedy":
            return -1.0
        return -((config.temperature - peak_t) ** 2) - (config.top_p - peak_p) ** 2 - 0.001 * config.top_k

    return evaluate, calls


def test_search_prunes_the_grid_then_refines_off_grid() -> None:
    evaluate, calls = _objective()
    space = SearchSpace(max_evaluations=80)
    result = asyncio.run(search_config(evaluate, space))
    grid = coarse_grid(space)
    assert len(grid) == 2 + 3 * 2 * 2 * 2 and all(c in calls for c in grid)  # every grid point scored first
    assert result.default_score == -1.0 and result.pruned_to == sorted(result.pruned_to, reverse=True)
    assert len(result.pruned_to) == space.keep
    assert result.best.temperature == pytest.approx(0.9) and result.best.top_p == pytest.approx(
        0.6, abs=0.051
    )
    assert result.best.top_k == 0 and result.evaluations == len(calls) <= 80
    grid_only = asyncio.run(search_config(_objective()[0], SearchSpace(rounds=0)))
    assert (
        result.score > grid_only.score and grid_only.best in grid
    )  # refinement found a better off-grid point


def test_search_keeps_greedy_when_nothing_is_better_and_respects_the_budget() -> None:
    async def flat(config: HagConfig) -> float:
        return 0.5

    result = asyncio.run(search_config(flat, SearchSpace(max_evaluations=5)))
    assert result.best.strategy == "greedy" and result.evaluations == 5


def test_metrics() -> None:
    assert METRICS["number"]("so the answer is 1,234.", "1234") == 1.0
    assert METRICS["number"]("no digits", "4") == 0.0
    assert METRICS["contains"]("It is Paris, France.", "paris") == 1.0
    assert METRICS["exact"]("Paris!", "paris") == 1.0 and METRICS["exact"]("Paris France", "paris") == 0.0
    assert METRICS["f1"]("the quick fox", "the quick brown fox") == pytest.approx(2 * 1 * 0.75 / 1.75)


def test_record_is_the_stage_one_conversation_and_parses_back() -> None:
    best = HagConfig(
        strategy="sample", temperature=0.7333, top_p=0.9, top_k=40, repetition_penalty=1.1, max_new_tokens=64
    )
    record = to_record(
        HagSample(prompt="Write a haiku", reference=""),
        SearchResult(best=best, score=1, default_score=0, evaluations=3, pruned_to=[1]),
    )
    expected = stage_one_messages([Message.user("Write a haiku")])
    assert record.prompt == [{"role": m.role, "content": m.content} for m in expected]
    assert record.prompt[0]["content"] == INSTRUCTION
    choice = parse_choice(record.completion[0]["content"])
    assert choice.source == "model" and choice.problem is None
    assert choice.config == best.model_copy(update={"temperature": 0.73})


def test_sample_file_errors_name_the_line(tmp_path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text('{"prompt": "a", "reference": "b"}\n{"reference": "c"}\n')
    with pytest.raises(HagDataError, match=r"s.jsonl:2: prompt: Field required"):
        load_samples(path)
    path.write_text('{"prompt": "a", "reference": "b", "metric": "bleu"}\n')
    with pytest.raises(HagDataError, match="unknown metric 'bleu'; known: exact, contains, number, f1"):
        load_samples(path)
    with pytest.raises(HagDataError, match="no such file"):
        load_samples(tmp_path / "missing.jsonl")


def test_search_with_a_real_model_writes_and_resumes(tiny_model_dir, tmp_path) -> None:
    samples = [
        HagSample(prompt="What is 2 + 3?", reference="5", metric="number"),
        HagSample(prompt="Say fox", reference="fox"),
    ]
    out = tmp_path / "records.jsonl"
    space = SearchSpace(
        max_new_tokens=4,
        temperatures=[0.7],
        top_ps=[1.0],
        top_ks=[0],
        repetition_penalties=[1.0],
        rounds=1,
        max_evaluations=4,
    )

    async def run(items):
        model = load_model(f"hf:{tiny_model_dir}")
        seen = []
        try:
            records = await build_hag_dataset(
                model, items, space=space, out=out, progress=lambda i, r: seen.append(r is None)
            )
        finally:
            await model.aclose()
        return records, seen

    first, seen = asyncio.run(run(samples[:1]))
    assert seen == [False] and len(load_records(out)) == 1
    both, seen = asyncio.run(run(samples))
    assert seen == [True, False] and both[0] == first[0] and len(load_records(out)) == 2
    assert all(
        1 <= r.evaluations <= 4 and parse_choice(r.completion[0]["content"]).source == "model" for r in both
    )


def test_tune_full_and_lora_write_checkpoints_hag_loads(tiny_model_dir, tmp_path) -> None:
    best = HagConfig(
        strategy="sample", temperature=0.7, top_p=0.9, top_k=40, repetition_penalty=1.1, max_new_tokens=64
    )
    record = to_record(
        HagSample(prompt="Write a poem", reference=""),
        SearchResult(best=best, score=1, default_score=0, evaluations=1, pruned_to=[1]),
    )
    base = {n: p.detach().clone() for n, p in load_trainable(str(tiny_model_dir))[0].named_parameters()}
    for lora in (False, True):
        model, tokenizer = load_trainable(str(tiny_model_dir))
        settings = HagTuneSettings(steps=6, batch_size=4, learning_rate=3e-3, lora=lora)
        result = tune_hag(
            model, tokenizer, [record] * 4, tmp_path / f"hag-{lora}", settings, base_model="tiny"
        )
        assert len(result.losses) == 6 and result.losses[-1] < result.losses[0]
        manifest = json.loads((result.out / MANIFEST).read_text())
        assert manifest["format"] == "phalanx.hag" and manifest["extras"]["hag"]["instruction"] == INSTRUCTION
        tuned = load_model(f"hag:{result.out}?dtype=float32")
        params = dict(tuned.inner.model.named_parameters())  # type: ignore[attr-defined]
        assert set(params) == set(base)  # LoRA merged: no adapter weights left
        assert any(not torch.equal(params[n], base[n]) for n in base)
        choice, _ = asyncio.run(tuned.choose([Message.user("Write a poem")]))  # type: ignore[attr-defined]
        assert choice.raw  # stage 1 ran on the tuned weights
        asyncio.run(tuned.aclose())
    with pytest.raises(HagDataError, match="no HAG records"):
        tune_hag(model, tokenizer, [], tmp_path / "none")


def test_cli_search_and_tune(tiny_model_dir, tmp_path) -> None:
    data = tmp_path / "samples.jsonl"
    data.write_text('{"prompt": "What is 1 + 1?", "reference": "2", "metric": "number"}\n')
    runner = CliRunner()
    records = tmp_path / "records.jsonl"
    searched = runner.invoke(
        app,
        ["hag", "search", "--model", f"hf:{tiny_model_dir}", "--data", str(data), "--out", str(records),
         "--max-new-tokens", "4", "--max-evaluations", "3", "--rounds", "0", "--json"],
    )  # fmt: skip
    assert searched.exit_code == 0, searched.output
    assert json.loads(searched.stdout)["records"] == 1 and len(load_records(records)) == 1
    out = tmp_path / "ckpt"
    tuned = runner.invoke(
        app,
        [
            "hag",
            "tune",
            "--model",
            str(tiny_model_dir),
            "--data",
            str(records),
            "--out",
            str(out),
            "--steps",
            "2",
            "--lora",
        ],
    )
    assert tuned.exit_code == 0, tuned.output
    assert "(LoRA, merged)" in tuned.stdout and f"hag:{out}" in tuned.stdout and (out / MANIFEST).is_file()
    bad = runner.invoke(
        app, ["hag", "tune", "--model", str(tiny_model_dir), "--data", str(data), "--out", str(out)]
    )
    assert bad.exit_code == 2 and "samples.jsonl:1: prompt: Input should be a valid array" in bad.output


def test_example_runs(capsys, monkeypatch) -> None:
    path = ROOT / "examples" / "hag_tuning.py"
    monkeypatch.setattr(sys, "argv", [str(path)])
    runpy.run_path(str(path), run_name="__main__")
    out = capsys.readouterr().out
    assert "searched 2 samples" in out and "tuned: loss" in out and "hag: stage 1 ->" in out
