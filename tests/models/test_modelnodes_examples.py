"""The model-node examples run and say what they show; `phalanx models check`; the LongHeads
benchmarks run end to end on a tiny model (their figures come from SmolLM2 runs, see README)."""

from __future__ import annotations

import json
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from phalanx.cli.app import app

ROOT = Path(__file__).resolve().parents[2]


def _run_example(name: str, capsys, monkeypatch) -> str:
    path = ROOT / "examples" / name
    monkeypatch.setattr(sys, "argv", [str(path)])
    runpy.run_path(str(path), run_name="__main__")  # in-process: no second torch import
    return capsys.readouterr().out


def test_longheads_example(capsys, monkeypatch) -> None:
    out = _run_example("longheads_long_context.py", capsys, monkeypatch)
    assert "hf:         refused:" in out and "exceeds the context limit 128" in out
    assert "longheads:  " in out and "-token prompt -> 8 new tokens" in out
    assert "budget >= length equals ordinary attention: True" in out


def test_hag_example(capsys, monkeypatch) -> None:
    out = _run_example("hag_node.py", capsys, monkeypatch)
    assert "hag:TINY chose {" in out
    assert "prose stage 1 -> fallback: not JSON" in out
    assert "listener saw: [" in out


def test_checkpoints_example(capsys, monkeypatch) -> None:
    out = _run_example("checkpoints.py", capsys, monkeypatch)
    assert "r3: prompt 'What is 2 + 3?\\n\\n### Response: '" in out
    assert "regions: 14 masked matrices" in out and "languages ['zh']" in out
    assert "hag: stage-1 instruction 'Pick settings.'" in out
    assert "model.safetensors: 1000 bytes" in out and "(truncated or replaced)" in out


def test_models_check_cli(tiny_model_dir, tmp_path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from phalanx.models.checkpoints import save_r3_checkpoint

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    saved = save_r3_checkpoint(tmp_path / "r3", model, AutoTokenizer.from_pretrained(tiny_model_dir))
    runner = CliRunner()
    ok = runner.invoke(app, ["models", "check", str(saved)])
    assert ok.exit_code == 0 and "ok: phalanx.r3 v1" in ok.stdout and f"load it with r3:{saved}" in ok.stdout
    manifest = json.loads(runner.invoke(app, ["models", "check", str(saved), "--json"]).stdout)
    assert manifest["format"] == "phalanx.r3" and "model.safetensors" in manifest["files"]
    (saved / "config.json").write_text("{}")
    bad = runner.invoke(app, ["models", "check", str(saved)])
    assert bad.exit_code == 1 and "config.json" in bad.stderr and "truncated or replaced" in bad.stderr
    missing = runner.invoke(app, ["models", "check", str(tmp_path)])
    assert missing.exit_code == 1 and "phalanx-checkpoint.json: missing" in missing.stderr


@pytest.mark.parametrize("script", ["longheads_passkey.py", "longheads_scaling.py"])
def test_longheads_benchmarks_run_on_a_tiny_model(tmp_path, script: str) -> None:
    from phalanx.models.tiny import build_tiny_checkpoint

    path = build_tiny_checkpoint(tmp_path / "tiny", num_heads=4, num_kv_heads=2)
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / script),
            "--model",
            str(path),
            "--lengths",
            "200,300",
            "--budget",
            "32",
            "--chunk",
            "8",
            *(["--placements", "2,1"] if "passkey" in script else []),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    )
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1
    figures = json.loads(lines[0])
    assert figures["benchmark"] == script.removesuffix(".py") and figures["budget"] == 32
    if "passkey" in script:
        assert figures["placements_per_length"] == {"200": 2, "300": 1}
        assert len(figures["runs"]["200"]["answers"]["longheads"]) == 2
        assert set(figures["accuracy"]["300"]) == {"ordinary", "longheads"}
    else:
        for name in ("longheads", "ordinary"):
            assert set(figures[name]) == {"200", "300"}
            assert figures[name]["300"]["prefill_s"] > 0 and figures[name]["300"]["tokens"] <= 300
