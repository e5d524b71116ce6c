"""Multimodal messages: OpenAI-style image parts in `Message`, with text-only messages exactly as before."""

from __future__ import annotations

import base64
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from pydantic import ValidationError

from phalanx.models import ImagePart, Message, ModelRequestError, TextPart
from phalanx.models.chat_template import render_chat
from phalanx.models.tiny import build_tiny_tokenizer

PIXEL = "data:image/png;base64,iVBORw0KGgo="


def test_text_only_messages_are_unchanged() -> None:
    m = Message.user("hello")
    assert m.model_dump() == {
        "role": "user",
        "content": "hello",
        "tool_calls": [],
        "tool_call_id": None,
        "name": None,
    }
    assert m.to_openai() == {"role": "user", "content": "hello"}
    assert m.parts is None and m.images == []
    # A list of text parts alone is plain text too.
    assert Message(
        role="user", content=[{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    ) == Message(role="user", content="a\nb")


def test_openai_image_parts_round_trip() -> None:
    wire = {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is in the picture?"},
            {"type": "image_url", "image_url": {"url": PIXEL, "detail": "low"}},
        ],
    }
    m = Message.from_openai(wire)
    assert m.content == "What is in the picture?"  # text-only consumers read the text
    assert [p.image_url.url for p in m.images] == [PIXEL] and m.images[0].image_url.detail == "low"
    assert m.to_openai() == wire
    assert Message.model_validate_json(m.model_dump_json()) == m
    # OpenAI's bare-string form of image_url is accepted too.
    bare = Message.from_openai({"role": "user", "content": [{"type": "image_url", "image_url": PIXEL}]})
    assert bare.images[0].image_url.url == PIXEL and bare.content is None


def test_user_with_pil_image_is_a_data_uri() -> None:
    image = Image.new("RGB", (3, 2), (10, 200, 30))
    m = Message.user("look", images=[image, "file:///tmp/x.png"])
    assert isinstance(m.parts[0], TextPart) and m.content == "look"
    url = m.images[0].image_url.url
    assert url.startswith("data:image/png;base64,")
    decoded = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert decoded.size == (3, 2) and decoded.getpixel((0, 0)) == (10, 200, 30)
    assert m.images[1].image_url.url == "file:///tmp/x.png"
    assert isinstance(ImagePart.from_image(image), ImagePart)


def test_unknown_part_type_is_refused() -> None:
    with pytest.raises(ValidationError, match="neither"):
        Message(role="user", content=[{"type": "input_audio", "input_audio": {}}])


def test_text_only_backends_refuse_images_clearly() -> None:
    tokenizer = build_tiny_tokenizer()
    with pytest.raises(ModelRequestError, match="reads text only"):
        render_chat(tokenizer, [Message.user("hi", images=[PIXEL])])
    assert "hi" in render_chat(tokenizer, [Message.user("hi")])


@given(st.lists(st.one_of(st.text(max_size=20), st.just(None)), min_size=1, max_size=6))
def test_parts_keep_order_and_text(items) -> None:
    content = [
        {"type": "text", "text": t} if t is not None else {"type": "image_url", "image_url": {"url": PIXEL}}
        for t in items
    ]
    m = Message(role="user", content=content)
    texts = [t for t in items if t is not None]
    assert m.content == ("\n".join(texts) if texts else None)
    if None in items:
        assert m.to_openai()["content"] == content
    else:
        assert m.parts is None
