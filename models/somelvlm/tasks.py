"""SoMeLVLM's five cognitive capabilities as task templates for social-media posts, and the data builders.

SoMeLVLM (Zhang et al. 2024, "SoMeLVLM: A Large Vision Language Model for Social Media
Processing") organises social-media tasks by five cognitive capabilities after Bloom's
taxonomy: knowledge & comprehension, application, analysis, evaluation and creation,
and instruction-tunes a vision-language model on posts (text, optionally an image)
rendered with several instruction phrasings per task. phalanx ships built-in tasks for
every capability (`TASKS`); a `TaskTemplate` of your own joins them by name.

`build_instruction_data` turns labelled posts into chat conversations (image parts
first, as LLaVA expects) that `sft_somelvlm` trains on; `load_posts` reads a user
dataset (JSON lines) and names the file and line of every problem.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from phalanx.models.errors import ModelError
from phalanx.models.types import ImagePart, ImageURL, Message, TextPart

Capability = Literal["knowledge", "application", "analysis", "evaluation", "creation"]
CAPABILITIES: tuple[Capability, ...] = ("knowledge", "application", "analysis", "evaluation", "creation")
"""Knowledge & comprehension, application, analysis, evaluation, creation (SoMeLVLM sec. 3)."""


class PostDataError(ModelError, ValueError):
    """A social-media dataset that cannot be read: the message names the file, the line and the fix."""


class TaskTemplate(BaseModel):
    """One social-media task: its capability, instruction phrasings and answer form."""

    name: str
    capability: Capability
    instructions: list[str] = Field(min_length=1)
    """Phrasings of the instruction; `{post}` is replaced by the post's text (exactly once each)."""
    labels: list[str] | None = None
    """The answer set of a classification task (scored by accuracy); None for free text (token F1)."""

    def render(self, post: str, variant: int = 0) -> str:
        """The instruction for `post` in phrasing `variant` (modulo the number of phrasings)."""
        text = self.instructions[variant % len(self.instructions)].replace("{post}", post)
        if self.labels:
            text += f"\nAnswer with one of: {', '.join(self.labels)}."
        return text


TASKS: dict[str, TaskTemplate] = {
    t.name: t
    for t in [
        TaskTemplate(
            name="sentiment",
            capability="knowledge",
            instructions=[
                "What sentiment does this social-media post express?\nPost: {post}",
                "Read the post and its image. Is the author's feeling positive, negative or neutral?\n{post}",
            ],
            labels=["positive", "negative", "neutral"],
        ),
        TaskTemplate(
            name="hate_speech",
            capability="application",
            instructions=[
                "Apply the definition of hate speech (an attack on people for who they are) to this post.\n"
                "Post: {post}",
                "Does this post, with its image, attack a group of people?\n{post}",
            ],
            labels=["hateful", "not hateful"],
        ),
        TaskTemplate(
            name="humour",
            capability="analysis",
            instructions=[
                "Analyse how the text and the image of this post relate. Is the post meant to be funny?\n"
                "Post: {post}",
                "Is this meme humorous?\n{post}",
            ],
            labels=["humorous", "not humorous"],
        ),
        TaskTemplate(
            name="misinformation",
            capability="evaluation",
            instructions=[
                "Judge whether this post and its image spread misleading claims.\nPost: {post}",
                "Evaluate the credibility of this post.\n{post}",
            ],
            labels=["misleading", "credible"],
        ),
        TaskTemplate(
            name="hashtags",
            capability="creation",
            instructions=[
                "Write hashtags for this post.\nPost: {post}",
                "Create a few hashtags that fit this post and its image.\n{post}",
            ],
        ),
        TaskTemplate(
            name="comment",
            capability="creation",
            instructions=[
                "Write a short comment a reader might reply to this post with.\nPost: {post}",
                "Create a friendly reply to this post and its image.\n{post}",
            ],
        ),
    ]
}
"""The built-in tasks: one per capability, two for creation (hashtags, comment)."""


class SocialPost(BaseModel):
    """One labelled post of a task: text, optional image, the gold answer."""

    task: str
    text: str
    image: str | None = None
    """A local image file, or a `data:` URI."""
    answer: str


def post_messages(post: SocialPost, template: TaskTemplate, variant: int = 0) -> list[Message]:
    """The user turn for `post`: its image (if any), then the task's instruction."""
    parts: list[TextPart | ImagePart] = []
    if post.image is not None:
        parts.append(ImagePart(image_url=ImageURL(url=post.image)))
    parts.append(TextPart(text=template.render(post.text, variant)))
    if len(parts) == 1:
        return [Message.user(parts[0].text)]  # type: ignore[union-attr]
    return [Message(role="user", content=template.render(post.text, variant), parts=parts)]


def build_instruction_data(
    posts: list[SocialPost], tasks: dict[str, TaskTemplate] | None = None, *, seed: int = 0
) -> list[list[Message]]:
    """SoMeLVLM-style instruction conversations: each post with a randomly chosen phrasing, then its answer.

    Raises:
        PostDataError: a post of an unknown task, or a label outside its task's label set.
    """
    known = tasks or TASKS
    rng = random.Random(seed)
    conversations = []
    for index, post in enumerate(posts):
        template = template_for(known, post, index)
        variant = rng.randrange(len(template.instructions))
        conversations.append([*post_messages(post, template, variant), Message.assistant(post.answer)])
    return conversations


def template_for(tasks: dict[str, TaskTemplate], post: SocialPost, index: int) -> TaskTemplate:
    """The template of `post`'s task, checked against it (`index` names the post in errors).

    Raises:
        PostDataError: an unknown task, or an answer outside a classification task's labels.
    """
    template = tasks.get(post.task)
    if template is None:
        raise PostDataError(f"post {index}: unknown task {post.task!r}; tasks: {', '.join(sorted(tasks))}")
    if template.labels and post.answer not in template.labels:
        raise PostDataError(
            f"post {index}: answer {post.answer!r} is not a label of {post.task} ({', '.join(template.labels)})"
        )
    return template


def load_posts(path: str | Path, tasks: dict[str, TaskTemplate] | None = None) -> list[SocialPost]:
    """Read a JSON-lines dataset: `{"task": ..., "text": ..., "image": "img.png", "answer": ...}` per line.

    Image paths are relative to the file's folder.

    Raises:
        PostDataError: no such file, a line that is not JSON or lacks a field, an unknown task,
            a label outside the task's set, or a missing image (file and line named).
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise PostDataError(f"{file}: no such file; pass a JSON-lines file of posts")
    known = tasks or TASKS
    posts = []
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            post = SocialPost.model_validate(json.loads(line))
        except json.JSONDecodeError as exc:
            raise PostDataError(f"{file}:{number}: not JSON ({exc.msg})") from exc
        except ValidationError as exc:
            problem = exc.errors()[0]
            raise PostDataError(
                f"{file}:{number}: {'.'.join(map(str, problem['loc']))}: {problem['msg']}"
            ) from exc
        try:
            template_for(known, post, number)
        except PostDataError as exc:
            raise PostDataError(f"{file}:{number}: {str(exc).split(': ', 1)[1]}") from exc
        if post.image is not None and not post.image.startswith("data:"):
            image = (file.parent / post.image).resolve()
            if not image.is_file():
                raise PostDataError(f"{file}:{number}: image {post.image!r} not found (looked at {image})")
            post = post.model_copy(update={"image": str(image)})
        posts.append(post)
    if not posts:
        raise PostDataError(f"{file}: holds no posts")
    return posts
