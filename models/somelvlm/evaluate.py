"""Per-capability evaluation of any `ChatModel` on social-media posts (SoMeLVLM's five capabilities)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

from pydantic import BaseModel

from phalanx.models.base import ChatModel
from phalanx.models.somelvlm.tasks import (
    CAPABILITIES,
    TASKS,
    SocialPost,
    TaskTemplate,
    post_messages,
    template_for,
)
from phalanx.models.types import GenerationConfig


class TaskScore(BaseModel):
    """The score of one task: accuracy (classification) or mean token F1 (free text)."""

    task: str
    capability: str
    metric: str
    """`accuracy` or `token_f1`."""
    score: float
    count: int


class SoMeLVLMReport(BaseModel):
    """Scores per task and per capability (the mean over its tasks), and their mean."""

    tasks: dict[str, TaskScore]
    capabilities: dict[str, float]
    """Only capabilities with at least one post in the dataset."""
    overall: float


def _words(text: str) -> list[str]:
    return re.findall(r"[#\w']+", text.lower())


def predicted_label(reply: str, labels: list[str]) -> str | None:
    """The label a free-form reply gives: an exact match, else the longest label it mentions first."""
    said = " ".join(_words(reply))
    by_length = sorted(labels, key=len, reverse=True)  # "not hateful" before "hateful"
    for label in by_length:
        if said == " ".join(_words(label)):
            return label
    hits = [(said.find(" ".join(_words(lab))), -len(lab), lab) for lab in by_length]
    found = sorted(h for h in hits if h[0] >= 0)
    return found[0][2] if found else None


def token_f1(reply: str, answer: str) -> float:
    """SQuAD-style token F1 between a generated text and the reference."""
    got, want = _words(reply), _words(answer)
    common = sum((Counter(got) & Counter(want)).values())
    if not got or not want or common == 0:
        return float(got == want)
    precision, recall = common / len(got), common / len(want)
    return 2 * precision * recall / (precision + recall)


async def evaluate_somelvlm(
    model: ChatModel,
    posts: list[SocialPost],
    tasks: dict[str, TaskTemplate] | None = None,
    *,
    config: GenerationConfig | None = None,
    on_post: Callable[[int, int], None] | None = None,
) -> SoMeLVLMReport:
    """Ask `model` every post in its task's first phrasing and score the replies per capability.

    Raises:
        PostDataError: a post of an unknown task or with a label outside its task's set.
    """
    known = tasks or TASKS
    cfg = config or GenerationConfig(max_new_tokens=32)
    scores: dict[str, list[float]] = {}
    for index, post in enumerate(posts):
        template = template_for(known, post, index)
        reply = (await model.chat(post_messages(post, template), config=cfg)).message.content or ""
        if template.labels:
            value = float(predicted_label(reply, template.labels) == post.answer)
        else:
            value = token_f1(reply, post.answer)
        scores.setdefault(post.task, []).append(value)
        if on_post is not None:
            on_post(index + 1, len(posts))
    per_task = {
        name: TaskScore(
            task=name,
            capability=known[name].capability,
            metric="accuracy" if known[name].labels else "token_f1",
            score=sum(values) / len(values),
            count=len(values),
        )
        for name, values in sorted(scores.items())
    }
    capabilities = {}
    for capability in CAPABILITIES:
        mine = [t.score for t in per_task.values() if t.capability == capability]
        if mine:
            capabilities[capability] = sum(mine) / len(mine)
    overall = sum(capabilities.values()) / len(capabilities) if capabilities else 0.0
    return SoMeLVLMReport(tasks=per_task, capabilities=capabilities, overall=overall)
