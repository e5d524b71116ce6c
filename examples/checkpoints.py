"""phalanx checkpoints: save R³, region-frozen and HAG-tuned models, load them as chat models.

Runs offline in seconds on a tiny random Llama (gibberish text, real mechanics):
  1. `save_r3_checkpoint` strips a PPO value head and records the prompt format; `r3:DIR`
     answers in that format and extracts the final answer into `reply.details["r3"]`;
  2. `save_regions_checkpoint` stores a 1% region mask next to the weights; `regions:DIR`
     checks it against the weights and exposes it as `model.region_mask`;
  3. `save_hag_checkpoint` records HAG's stage-1 instruction; `hag:DIR` uses it;
  4. a truncated weights file is refused with a message naming the file.
All loaders take `hf:` options (`?dtype=bfloat16&device=cpu`).

Usage: python examples/checkpoints.py
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from phalanx.models import CheckpointError, GenerationConfig, Message, build_tiny_checkpoint, load_model
from phalanx.models.checkpoints import (
    PromptFormat,
    RegionInfo,
    RegionMask,
    save_r3_checkpoint,
    save_regions_checkpoint,
)
from phalanx.models.hag import HagSettings, save_hag_checkpoint


def region_mask(model) -> RegionMask:
    """A stand-in for the trainer's top-1% |grad x param| mask: 1% of each block matrix."""
    masks = {}
    for name, weight in model.named_parameters():
        if "layers." in name and weight.dim() == 2:
            flat = torch.zeros(weight.numel(), dtype=torch.bool)
            flat[torch.randperm(weight.numel())[: weight.numel() // 100]] = True
            masks[name] = flat.view(weight.shape)
    return RegionMask(masks, RegionInfo(languages=["zh"], fraction=0.01))


async def main(root: Path) -> None:
    base = build_tiny_checkpoint(root / "base")
    model = AutoModelForCausalLM.from_pretrained(base)
    tokenizer = AutoTokenizer.from_pretrained(base)
    config = GenerationConfig(max_new_tokens=6)

    r3_dir = save_r3_checkpoint(root / "r3", model, tokenizer, PromptFormat(), base_model="tiny")
    r3 = load_model(f"r3:{r3_dir}?dtype=float32")
    prompt = tokenizer.decode(r3.render_prompt([Message.user("What is 2 + 3?")]))
    reply = await r3.chat([Message.user("What is 2 + 3?")], config=config)
    print(f"r3: prompt {prompt!r}; answer extracted: {reply.details['r3']['answer']}")
    await r3.aclose()

    regions_dir = save_regions_checkpoint(root / "regions", model, tokenizer, region_mask(model))
    regions = load_model(f"regions:{regions_dir}")
    mask = regions.region_mask
    print(
        f"regions: {len(mask.masks)} masked matrices, {mask.fraction:.2%} of their weights, languages {mask.info.languages}"
    )
    await regions.aclose()

    hag_dir = save_hag_checkpoint(root / "hag", model, tokenizer, HagSettings(instruction="Pick settings."))
    hag = load_model(f"hag:{hag_dir}")
    print(f"hag: stage-1 instruction {hag.settings.instruction!r}")
    await hag.aclose()

    weights = r3_dir / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    try:
        load_model(f"r3:{r3_dir}")
    except CheckpointError as exc:
        print(f"damaged: {exc}")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(Path(tmp)))
