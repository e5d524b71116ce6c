"""SoMeLVLM: social-media tasks of five cognitive capabilities on a vision-language node.

Runs offline in about a minute on a CPU, on a tiny random LLaVA (real transformers
classes, random weights, so its answers are noise; the pipeline is what is shown):
  1. posts with generated images for one task per capability (knowledge & comprehension,
     application, analysis, evaluation, creation), rendered as SoMeLVLM-style instruction
     conversations with OpenAI-style image parts;
  2. a few steps of supervised fine-tuning with TRL, saved as a phalanx checkpoint;
  3. `load_model("somelvlm:DIR")` answers a task about a post and its image;
  4. per-capability scores on the posts (`phalanx somelvlm eval` does this on your dataset).

Usage: python examples/somelvlm_node.py
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

from phalanx.models import load_model
from phalanx.models.somelvlm import (
    SFTOptions,
    SocialPost,
    build_instruction_data,
    build_tiny_llava,
    evaluate_somelvlm,
    sft_somelvlm,
)


def draw(path: Path, colour: tuple[int, int, int], shape: str) -> str:
    """A generated 'photo': a coloured background with a shape on it."""
    image = Image.new("RGB", (48, 48), colour)
    pen = ImageDraw.Draw(image)
    (pen.ellipse if shape == "circle" else pen.rectangle)((12, 12, 36, 36), fill=(255, 255, 255))
    image.save(path)
    return str(path)


async def main(folder: Path) -> None:
    base = build_tiny_llava(folder / "tiny-llava")
    sunny = draw(folder / "sunny.png", (250, 200, 0), "circle")
    grey = draw(folder / "grey.png", (90, 90, 90), "square")
    posts = [
        SocialPost(task="sentiment", text="Best beach day ever!", image=sunny, answer="positive"),
        SocialPost(task="sentiment", text="Rain again. Cancelled.", image=grey, answer="negative"),
        SocialPost(task="hate_speech", text="Everyone is welcome here.", image=sunny, answer="not hateful"),
        SocialPost(task="humour", text="Me waiting for the weekend", image=grey, answer="humorous"),
        SocialPost(task="misinformation", text="Sun cures all illness!", image=sunny, answer="misleading"),
        SocialPost(task="hashtags", text="Sunset at the pier", image=sunny, answer="#sunset #pier"),
    ]
    first = build_instruction_data(posts)[0]
    print(f"instruction: {len(first[0].images)} image part + {first[0].content!r} -> {first[1].content!r}")

    result = sft_somelvlm(
        base, posts, folder / "tuned", options=SFTOptions(max_steps=4, batch_size=3, learning_rate=5e-3)
    )
    print(f"TRL SFT: {len(result.losses)} steps, loss {result.losses[0]:.2f} -> {result.losses[-1]:.2f}")

    node = load_model(f"somelvlm:{result.checkpoint}")
    reply = await node.run_task("hashtags", "Morning coffee by the sea", image=sunny)  # type: ignore[attr-defined]
    print(f"somelvlm: hashtags reply of {len(reply)} characters")

    report = await evaluate_somelvlm(node, posts)
    print("per capability:", {k: round(v, 2) for k, v in report.capabilities.items()})


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(Path(tmp)))
