"""SoMeLVLM: task templates of the five capabilities, instruction data, the `vlm:` backend on a tiny
random LLaVA with generated images, TRL fine-tuning into a `somelvlm:` checkpoint, per-capability
evaluation, the CLI and the example."""

from __future__ import annotations

import asyncio
import json
import runpy
import sys
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from phalanx.cli.app import app
from phalanx.models import (
    CheckpointError,
    GenerationConfig,
    Message,
    ModelRequestError,
    ScriptedModel,
    load_model,
)
from phalanx.models.checkpoints import MANIFEST
from phalanx.models.somelvlm import (
    CAPABILITIES,
    TASKS,
    PostDataError,
    SocialPost,
    SoMeLVLMChatModel,
    VisionChatModel,
    build_instruction_data,
    build_tiny_llava,
    evaluate_somelvlm,
    load_image,
    load_posts,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("images")
    out = {}
    for name, colour in {"red": (220, 20, 20), "blue": (20, 20, 220)}.items():
        Image.new("RGB", (40, 30), colour).save(folder / f"{name}.png")
        out[name] = str(folder / f"{name}.png")
    return out


@pytest.fixture(scope="module")
def llava_dir(tmp_path_factory) -> Path:
    return build_tiny_llava(tmp_path_factory.mktemp("tiny-llava"))


# ---- tasks and data -----------------------------------------------------------------------------


def test_one_task_per_capability_and_instruction_data(images) -> None:
    assert {t.capability for t in TASKS.values()} == set(CAPABILITIES)
    posts = [
        SocialPost(task="hate_speech", text="all welcome", image=images["red"], answer="not hateful"),
        SocialPost(task="hashtags", text="sunset", answer="#sunset"),
    ]
    first, second = build_instruction_data(posts, seed=1)
    # The image comes first (as LLaVA expects), then the task's instruction with its answer set.
    assert [type(p).__name__ for p in first[0].parts] == ["ImagePart", "TextPart"]
    assert (
        "all welcome" in first[0].content and "Answer with one of: hateful, not hateful." in first[0].content
    )
    assert first[1] == Message.assistant("not hateful")
    assert second[0].parts is None and second[0].content.endswith("sunset")
    phrasings = {build_instruction_data(posts[:1], seed=s)[0][0].content for s in range(8)}
    assert len(phrasings) == len(TASKS["hate_speech"].instructions)
    with pytest.raises(PostDataError, match="'maybe' is not a label of humour"):
        build_instruction_data([SocialPost(task="humour", text="x", answer="maybe")])


def test_load_posts_names_file_and_line(tmp_path, images) -> None:
    data = tmp_path / "posts.jsonl"
    Image.open(images["red"]).save(tmp_path / "red.png")
    good = {"task": "sentiment", "text": "yay", "image": "red.png", "answer": "positive"}
    data.write_text(json.dumps(good) + "\n\n" + json.dumps({**good, "image": None}) + "\n")
    posts = load_posts(data)
    assert posts[0].image == str(tmp_path / "red.png") and posts[1].image is None
    cases = {
        "{oops": r"posts\.jsonl:1: not JSON",
        json.dumps({"task": "sentiment", "text": "x"}): r"posts\.jsonl:1: answer: Field required",
        json.dumps({**good, "task": "memes"}): r"posts\.jsonl:1: unknown task 'memes'",
        json.dumps({**good, "image": "nope.png"}): r"posts\.jsonl:1: image 'nope.png' not found",
    }
    for line, message in cases.items():
        data.write_text(line + "\n")
        with pytest.raises(PostDataError, match=message):
            load_posts(data)


def test_load_image_sources(images) -> None:
    from phalanx.models import ImagePart

    data_uri = ImagePart.from_image(Image.open(images["blue"]))
    assert load_image(data_uri).getpixel((0, 0)) == (20, 20, 220)
    assert load_image(ImagePart(image_url={"url": "file://" + images["red"]})).size == (40, 30)
    with pytest.raises(ModelRequestError, match="do not fetch remote images"):
        load_image(ImagePart(image_url={"url": "https://example.com/a.png"}))
    with pytest.raises(ModelRequestError, match="no such file"):
        load_image(ImagePart(image_url={"url": "/nonexistent.png"}))


# ---- evaluation ---------------------------------------------------------------------------------


def test_per_capability_scores_with_a_scripted_model() -> None:
    def answer(messages, tools):
        text = messages[-1].content
        if "sentiment" in text or "feeling" in text:
            return "Positive."
        if "hate speech" in text or "attack" in text:
            return "This post is not hateful"
        if "funny" in text or "humorous" in text:
            return "I cannot tell"
        return "#sunset #beach"

    posts = [
        SocialPost(task="sentiment", text="a", answer="positive"),
        SocialPost(task="sentiment", text="b", answer="negative"),
        SocialPost(task="hate_speech", text="c", answer="not hateful"),
        SocialPost(task="humour", text="d", answer="humorous"),
        SocialPost(task="hashtags", text="e", answer="#sunset #pier"),
    ]
    report = asyncio.run(evaluate_somelvlm(ScriptedModel(answer), posts))
    assert report.tasks["sentiment"].score == 0.5 and report.tasks["sentiment"].count == 2
    assert report.capabilities == {"knowledge": 0.5, "application": 1.0, "analysis": 0.0, "creation": 0.5}
    assert report.tasks["hashtags"].metric == "token_f1"
    assert report.overall == pytest.approx(0.5)


# ---- the vision-language backend ----------------------------------------------------------------


def test_vlm_backend_expands_the_image(llava_dir, images) -> None:
    model = load_model(f"vlm:{llava_dir}?device=cpu&dtype=float32")
    assert isinstance(model, VisionChatModel)
    cfg = GenerationConfig(max_new_tokens=3)
    with_image = asyncio.run(model.chat([Message.user("what is shown?", images=[images["red"]])], config=cfg))
    text_only = asyncio.run(model.chat([Message.user("what is shown?")], config=cfg))
    # 32x32 pixels in 8x8 patches: the one <image> placeholder becomes 16 image-feature positions.
    assert with_image.usage.prompt_tokens - text_only.usage.prompt_tokens == 16
    assert with_image.usage.completion_tokens <= 3 and with_image.model == f"vlm:{llava_dir}"
    with pytest.raises(ModelRequestError, match="no such file"):
        asyncio.run(model.chat([Message.user("x", images=["/missing.png"])], config=cfg))


# ---- TRL fine-tuning, checkpoint, CLI -----------------------------------------------------------


@pytest.fixture(scope="module")
def tuned(llava_dir, images, tmp_path_factory) -> tuple[Path, dict, Path]:
    folder = tmp_path_factory.mktemp("somelvlm")
    data = folder / "posts.jsonl"
    rows = [
        {"task": "sentiment", "text": "sunny day", "image": images["red"], "answer": "positive"},
        {"task": "humour", "text": "that meme", "image": images["blue"], "answer": "humorous"},
        {"task": "hashtags", "text": "beach walk", "answer": "#beach"},
        {"task": "misinformation", "text": "miracle cure", "image": images["red"], "answer": "misleading"},
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = folder / "ckpt"
    args = ["somelvlm", "train", str(llava_dir), "--data", str(data), "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--steps", "4", "--batch-size", "4", "--lr", "5e-3", "--json"])
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout), data


def test_sft_lowers_the_loss_and_the_checkpoint_loads(tuned, images) -> None:
    out, summary, _ = tuned
    assert summary["steps"] == 4 and summary["last_loss"] < summary["first_loss"]
    node = load_model(f"somelvlm:{out}")
    assert isinstance(node, SoMeLVLMChatModel) and set(node.tasks) == set(TASKS)
    reply = asyncio.run(node.run_task("sentiment", "sunny day", image=images["red"]))
    assert isinstance(reply, str)
    with pytest.raises(ModelRequestError, match="unknown task 'memes'"):
        asyncio.run(node.run_task("memes", "x"))


def test_cli_eval_and_build_data(tuned, tmp_path) -> None:
    out, _, data = tuned
    runner = CliRunner()
    result = runner.invoke(app, ["somelvlm", "eval", f"somelvlm:{out}", "--data", str(data), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report["capabilities"]) == {"knowledge", "analysis", "creation", "evaluation"}
    assert all(0.0 <= v <= 1.0 for v in report["capabilities"].values())

    convs = tmp_path / "convs.jsonl"
    result = runner.invoke(app, ["somelvlm", "build-data", str(data), "--out", str(convs)])
    assert result.exit_code == 0 and "wrote 4 conversations" in result.output
    first = json.loads(convs.read_text().splitlines()[0])["messages"]
    assert first[0]["content"][0]["type"] == "image_url" and first[1] == {
        "role": "assistant",
        "content": "positive",
    }

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"task": "sentiment"}\n')
    result = runner.invoke(app, ["somelvlm", "eval", f"somelvlm:{out}", "--data", str(bad)])
    assert result.exit_code == 2 and "bad.jsonl:1:" in result.output and "Traceback" not in result.output
    assert "hate_speech" in runner.invoke(app, ["somelvlm", "tasks"]).output


def test_damaged_checkpoint_is_named(tuned, tmp_path) -> None:
    import shutil

    out, _, _ = tuned
    copy = Path(shutil.copytree(out, tmp_path / "copy"))
    manifest = json.loads((copy / MANIFEST).read_text())
    manifest["extras"]["somelvlm"]["tasks"]["sentiment"]["capability"] = "memorising"
    (copy / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match=r"extras\.somelvlm\.tasks\.sentiment\.capability"):
        load_model(f"somelvlm:{copy}")
    (copy / "model.safetensors").write_bytes(b"0")
    with pytest.raises(CheckpointError, match=r"model\.safetensors: 1 bytes"):
        load_model(f"somelvlm:{copy}")


def test_example(capsys, monkeypatch) -> None:
    path = ROOT / "examples" / "somelvlm_node.py"
    monkeypatch.setattr(sys, "argv", [str(path)])
    runpy.run_path(str(path), run_name="__main__")
    out = capsys.readouterr().out
    assert "instruction: 1 image part + " in out and "-> 'positive'" in out
    assert "TRL SFT: 4 steps, loss " in out
    capabilities = out.split("per capability: ", 1)[1].splitlines()[0]
    assert all(c in capabilities for c in CAPABILITIES)
