"""phalanx checkpoints: each loader (`r3:`, `regions:`, `hag:`) round-trips a tiny checkpoint saved in a
temp dir, composes with `hf:` options, and rejects a damaged or inconsistent one naming the file."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from phalanx.models import CheckpointError, GenerationConfig, Message, ModelSpecError, load_model
from phalanx.models.checkpoints import (
    MANIFEST,
    PromptFormat,
    R3ChatModel,
    RegionInfo,
    RegionMask,
    RegionsChatModel,
    save_r3_checkpoint,
    save_regions_checkpoint,
)
from phalanx.models.checkpoints.format import sha256_file
from phalanx.models.hag import HagChatModel, HagConfig, HagSettings, save_hag_checkpoint
from phalanx.models.hf import HFChatModel


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    return model, AutoTokenizer.from_pretrained(tiny_model_dir)


class PolicyWithValueHead(torch.nn.Module):
    """The shape of a PPO policy (TRL's value-head model): the LM plus a scalar head."""

    def __init__(self, lm) -> None:
        super().__init__()
        self.pretrained_model = lm
        self.v_head = torch.nn.Linear(lm.config.hidden_size, 1)


def _reseal(directory: Path) -> None:
    """Rewrite the manifest's sizes and digests after a deliberate edit, so only the content is wrong."""
    path = directory / MANIFEST
    manifest = json.loads(path.read_text())
    for name in manifest["files"]:
        file = directory / name
        manifest["files"][name] = {"bytes": file.stat().st_size, "sha256": sha256_file(file)}
    path.write_text(json.dumps(manifest))


def _same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k].to(sa[k].dtype)) for k in sa)


def _chat(model, text: str = "What is 2 + 3?"):
    async def go():
        try:
            return await model.chat([Message.user(text)], config=GenerationConfig(max_new_tokens=4))
        finally:
            await model.aclose()

    return asyncio.run(go())


# -- R³ ---------------------------------------------------------------------------------------------


def test_r3_round_trip_strips_the_value_head_and_applies_the_prompt_format(tiny, tmp_path) -> None:
    model, tokenizer = tiny
    fmt = PromptFormat(template="Q: {question}\nA:", answer_pattern=r"answer is (\d+)")
    save_r3_checkpoint(tmp_path / "r3", PolicyWithValueHead(model), tokenizer, fmt, base_model="tiny")
    manifest = json.loads((tmp_path / "r3" / MANIFEST).read_text())
    assert manifest["format"] == "phalanx.r3" and manifest["base_model"] == "tiny"
    loaded = load_model(f"r3:{tmp_path / 'r3'}?device=cpu&dtype=float32&name=policy")
    assert isinstance(loaded, R3ChatModel) and loaded.name == "policy"
    assert _same_weights(loaded.model, model)
    assert loaded.prompt_format == fmt
    prompt = tokenizer.decode(
        loaded.render_prompt([Message.system("ignored"), Message.user('say "hi" {{ x }}')])
    )
    assert prompt == 'Q: say "hi" {{ x }}\nA:'
    reply = _chat(loaded)
    assert "r3" in reply.details and reply.details["r3"]["answer"] == fmt.extract(reply.message.content or "")
    assert PromptFormat().extract("so 3 + 4 = 7. The answer is 1,234.") == "1234"


def test_r3_options_compose_with_hf_options(tiny, tmp_path) -> None:
    model, tokenizer = tiny
    save_r3_checkpoint(tmp_path / "r3", model, tokenizer)
    loaded = load_model(f"r3:{tmp_path / 'r3'}?dtype=bfloat16")
    assert next(loaded.model.parameters()).dtype == torch.bfloat16
    with pytest.raises(ModelSpecError, match="unknown r3: option"):
        load_model(f"r3:{tmp_path / 'r3'}?budget=9")


def test_r3_rejects_damaged_and_inconsistent_checkpoints(tiny, tmp_path) -> None:
    model, tokenizer = tiny
    good = save_r3_checkpoint(tmp_path / "r3", model, tokenizer)

    weights = good / "model.safetensors"
    original = weights.read_bytes()
    weights.write_bytes(original[: len(original) // 2])
    with pytest.raises(CheckpointError, match=r"model\.safetensors: \d+ bytes, .* says \d+ \(truncated"):
        load_model(f"r3:{good}")
    weights.write_bytes(original[:-8] + b"\0" * 8)
    with pytest.raises(CheckpointError, match=r"model\.safetensors: contents differ .*corrupted"):
        load_model(f"r3:{good}")
    weights.write_bytes(original)

    tensors = load_file(str(weights))
    save_file(
        {**tensors, "v_head.summary.weight": torch.zeros(1, 64)}, str(weights), metadata={"format": "pt"}
    )
    _reseal(good)
    with pytest.raises(
        CheckpointError, match=r"model\.safetensors: holds value-head tensors \(v_head\.summary"
    ):
        load_model(f"r3:{good}")

    manifest = good / MANIFEST
    manifest.write_text('{"format": "phalanx.r3", ')
    with pytest.raises(CheckpointError, match=r"phalanx-checkpoint\.json: not valid JSON"):
        load_model(f"r3:{good}")
    manifest.write_text(json.dumps({"format": "phalanx.r3", "version": 7, "files": {}}))
    with pytest.raises(CheckpointError, match="version 7 is newer"):
        load_model(f"r3:{good}")
    manifest.write_text(
        json.dumps(
            {
                "format": "phalanx.r3",
                "version": 1,
                "files": {},
                "extras": {"prompt_format": {"template": "no placeholder"}},
            }
        )
    )
    with pytest.raises(
        CheckpointError, match=r"phalanx-checkpoint\.json: extras\.prompt_format\.template: .*exactly once"
    ):
        load_model(f"r3:{good}")
    manifest.unlink()
    with pytest.raises(CheckpointError, match=r"phalanx-checkpoint\.json: missing"):
        load_model(f"r3:{good}")


# -- regions --------------------------------------------------------------------------------------


def _mask(model) -> RegionMask:
    g = torch.Generator().manual_seed(0)
    masks = {}
    for name, weight in model.named_parameters():
        if "layers." in name and weight.dim() == 2:  # the paper: transformer-block matrices only
            flat = torch.zeros(weight.numel(), dtype=torch.bool)
            flat[torch.randperm(weight.numel(), generator=g)[: max(1, weight.numel() // 100)]] = True
            masks[name] = flat.view(weight.shape)
    return RegionMask(masks, RegionInfo(languages=["zh", "ar"], fraction=0.01))


def test_regions_round_trip_exposes_the_mask(tiny, tmp_path) -> None:
    model, tokenizer = tiny
    mask = _mask(model)
    save_regions_checkpoint(tmp_path / "reg", model, tokenizer, mask)
    loaded = load_model(f"regions:{tmp_path / 'reg'}?device=cpu")
    assert isinstance(loaded, RegionsChatModel) and _same_weights(loaded.model, model)
    got = loaded.region_mask
    assert got.masks.keys() == mask.masks.keys()
    assert all(torch.equal(got.masks[k], mask.masks[k]) for k in mask.masks)
    assert got.info.languages == ["zh", "ar"] and 0.009 < got.fraction < 0.012
    assert _chat(loaded).usage.completion_tokens == 4


def test_regions_rejects_masks_that_do_not_fit_the_weights(tiny, tmp_path) -> None:
    model, tokenizer = tiny
    mask = _mask(model)
    with pytest.raises(CheckpointError, match="names no parameter"):
        save_regions_checkpoint(
            tmp_path / "bad",
            model,
            tokenizer,
            RegionMask({"nope": torch.ones(2, dtype=torch.bool)}, RegionInfo()),
        )
    good = save_regions_checkpoint(tmp_path / "reg", model, tokenizer, mask)
    file = good / "region_mask.safetensors"
    name = next(n for n, m in mask.masks.items() if m.shape[0] != m.shape[1])
    save_file({**mask.masks, name: mask.masks[name].T.contiguous()}, str(file))
    _reseal(good)
    with pytest.raises(
        CheckpointError, match=rf"region_mask\.safetensors: mask '{name}' has shape .* but the weight is"
    ):
        load_model(f"regions:{good}")
    save_file({**mask.masks, name: mask.masks[name].float()}, str(file))
    _reseal(good)
    with pytest.raises(CheckpointError, match="is torch.float32, expected bool"):
        load_model(f"regions:{good}")
    file.unlink()
    with pytest.raises(CheckpointError, match=r"region_mask\.safetensors: listed in .* but missing"):
        load_model(f"regions:{good}")
    with pytest.raises(
        CheckpointError, match="format is 'phalanx.regions', expected 'phalanx.r3'; load it with regions:"
    ):
        load_model(f"r3:{good}")


# -- HAG ------------------------------------------------------------------------------------------


def test_hag_checkpoint_round_trip_and_plain_spec(tiny, tiny_model_dir, tmp_path) -> None:
    model, tokenizer = tiny
    fallback = HagConfig(
        strategy="greedy", temperature=0, top_p=1, top_k=0, repetition_penalty=1.2, max_new_tokens=3
    )
    settings = HagSettings(instruction="Pick settings.", fallback=fallback)
    save_hag_checkpoint(tmp_path / "hag", model, tokenizer, settings)
    loaded = load_model(f"hag:{tmp_path / 'hag'}?dtype=float32")
    assert isinstance(loaded, HagChatModel) and loaded.settings == settings
    assert isinstance(loaded.inner, HFChatModel) and _same_weights(loaded.inner.model, model)
    plain = load_model(f"hag:hf:{tiny_model_dir}")
    assert isinstance(plain, HagChatModel) and plain.settings == HagSettings()
    reply = _chat(loaded)  # a random model under the schema: valid JSON, clamped or not
    assert reply.details["hag"]["source"] in ("model", "fallback")
    asyncio.run(plain.aclose())


def test_hag_checkpoint_with_bad_settings_is_refused(tiny, tmp_path) -> None:
    model, tokenizer = tiny
    good = save_hag_checkpoint(tmp_path / "hag", model, tokenizer)
    manifest = json.loads((good / MANIFEST).read_text())
    manifest["extras"]["hag"]["fallback"]["strategy"] = "beam"
    (good / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match=r"phalanx-checkpoint\.json: extras\.hag\.fallback\.strategy"):
        load_model(f"hag:{good}")
    (good / "tokenizer.json").write_text("{}")
    with pytest.raises(CheckpointError, match=r"tokenizer\.json: \d+ bytes"):
        load_model(f"hag:{good}")
