"""`phalanx regions find | ablate | train` on a tiny model and a text folder, their clear errors, the
runnable example, and the two region benchmarks end to end at toy sizes."""

from __future__ import annotations

import json
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from phalanx.cli.app import app
from phalanx.models import load_model

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture()
def text_dir(tmp_path) -> Path:
    folder = tmp_path / "text"
    folder.mkdir()
    (folder / "aa.txt").write_text("\n\n".join(f"alpha beta gamma {i} lazy dog" for i in range(80)))
    (folder / "bb").mkdir()
    (folder / "bb" / "x.txt").write_text("\n\n".join(f"0123 + 456 = {i} answer" for i in range(80)))
    return folder


def test_find_ablate_train_and_reload(tiny_model_dir, text_dir, tmp_path) -> None:
    runner = CliRunner()
    common = ["--model", str(tiny_model_dir), "--languages", "aa,bb", "--text", str(text_dir)]
    found = runner.invoke(
        app,
        [
            "regions",
            "find",
            *common,
            "--samples",
            "3",
            "--seq-len",
            "16",
            "--out",
            str(tmp_path / "m"),
            "--json",
        ],
    )
    assert found.exit_code == 0, found.output
    summary = json.loads(found.stdout)
    assert set(summary["regions"]) == {"core", "bottom", "random"}
    assert summary["regions"]["core"]["samples"] == 3 and 0.009 < summary["regions"]["core"]["share"] <= 0.01

    ablated = runner.invoke(
        app, ["regions", "ablate", *common, "--regions", str(tmp_path / "m"), "--eval-samples", "2", "--json"]
    )
    assert ablated.exit_code == 0, ablated.output
    report = json.loads(ablated.stdout)
    assert set(report["perplexity"]) == {"intact", "core", "random", "bottom"} and set(
        report["ratio"]["core"]
    ) == {"aa", "bb"}

    out = tmp_path / "ckpt"
    trained = runner.invoke(
        app,
        ["regions", "train", *common[:2], "--regions", str(tmp_path / "m"), "--languages", "bb", "--text", str(text_dir),
         "--steps", "2", "--batch-size", "2", "--seq-len", "16", "--out", str(out)],
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output
    assert "region core intact: True" in trained.stdout and f"regions:{out}" in trained.stdout
    model = load_model(f"regions:{out}?dtype=float32")
    base = dict(load_model(f"hf:{tiny_model_dir}?dtype=float32").model.named_parameters())  # type: ignore[attr-defined]
    params = dict(model.model.named_parameters())  # type: ignore[attr-defined]
    assert model.region_mask.info.trained_on == ["bb"]  # type: ignore[attr-defined]
    for name, mask in model.region_mask.masks.items():  # type: ignore[attr-defined]
        assert torch.equal(params[name][mask], base[name][mask])


def test_bad_input_is_a_clear_error(tiny_model_dir, text_dir, tmp_path) -> None:
    runner = CliRunner()
    missing = runner.invoke(
        app,
        [
            "regions",
            "find",
            "--model",
            str(tiny_model_dir),
            "--languages",
            "aa,zz",
            "--text",
            str(text_dir),
            "--out",
            str(tmp_path),
        ],
    )
    assert (
        missing.exit_code == 2
        and "no text for language 'zz'" in missing.output
        and "Traceback" not in missing.output
    )
    no_masks = runner.invoke(
        app, ["regions", "ablate", "--model", str(tiny_model_dir), "--regions", str(tmp_path)]
    )
    assert no_masks.exit_code == 2 and "regions.json: missing" in no_masks.output
    too_long = runner.invoke(
        app, ["regions", "find", "--model", str(tiny_model_dir), "--languages", "aa", "--text", str(text_dir),
              "--samples", "5000", "--out", str(tmp_path / "x")],
    )  # fmt: skip
    assert too_long.exit_code == 2 and "use fewer samples" in too_long.output


def test_example_runs(capsys, monkeypatch) -> None:
    path = ROOT / "examples" / "linguistic_regions.py"
    monkeypatch.setattr(sys, "argv", [str(path)])
    runpy.run_path(str(path), run_name="__main__")
    out = capsys.readouterr().out
    assert "regions: {'core': '0.98%'" in out and "'mono-de'" in out
    assert "core intact: True" in out and "frozen elements bit-identical to the original: True" in out


def _bench(name: str, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / name), *args], capture_output=True, text=True, timeout=280
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_forgetting_benchmark_runs_at_toy_size() -> None:
    row = _bench(
        "region_forgetting.py",
        "--seeds",
        "1",
        "--pretrain-steps",
        "3",
        "--further-steps",
        "2",
        "--threads",
        "1",
    )
    assert set(row["a_ppl_increase"]) == {"none", "core-0.01", "random-0.01", "core-0.05", "random-0.05"}
    assert row["forgetting_ratio"] == round(
        row["a_ppl_increase"]["core-0.01"] / row["a_ppl_increase"]["none"], 3
    )


def test_ablation_benchmark_runs_at_toy_size(tiny_model_dir) -> None:
    from phalanx.models.trainers.corpora import FORTUNES_ROOT

    if not FORTUNES_ROOT.is_dir():
        pytest.skip("Debian fortunes are not installed (in CI, .ci/setup installs them)")
    row = _bench(
        "regions_ablation.py", "--model", str(tiny_model_dir), "--languages", "en,de,es,ru,zh",
        "--samples", "2", "--eval-samples", "1", "--seq-len", "16", "--threads", "1",
    )  # fmt: skip
    assert set(row["perplexity"]) == {"intact", "core", "random", "bottom"}
    assert set(row["perplexity"]["core"]) == {"en", "de", "es", "ru", "zh"} and isinstance(
        row["claim_holds"], bool
    )
