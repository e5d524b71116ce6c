"""`sentiment:PATH`: a trained sentiment classifier as a `ChatModel` node that answers with the label.

The checkpoint is a phalanx checkpoint (`phalanx.sentiment` format): the encoder and its
tokenizer as `save_pretrained` writes them, the heads (invariant/specific projections,
the domain-prototype dictionary, classifier, or ERM's linear head) in
`sentiment_heads.safetensors`, and the `SentimentConfig` under `extras.sentiment` of the
manifest, which also records every file's size and SHA-256.

The node classifies the last user message. Its reply's content is the label
(`positive`/`negative`), or with `json_mode` a JSON object `{"label": ..., "probabilities": {...}}`;
`ChatResponse.details["sentiment"]` always holds the label and P(label) (for a causal
model, the backdoor-adjusted P(y | do(x))).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from phalanx.models.base import TokenCallback, register_backend
from phalanx.models.checkpoints.format import MANIFEST, read_checkpoint, save_checkpoint
from phalanx.models.errors import CheckpointError
from phalanx.models.sentiment.train import TrainedSentiment
from phalanx.models.types import ChatResponse, GenerationConfig, JsonMode, Message, Usage

FORMAT = "phalanx.sentiment"
HEADS = "sentiment_heads.safetensors"


def save_sentiment_checkpoint(directory: str | Path, model: TrainedSentiment) -> Path:
    """Write `model` as a checkpoint that `sentiment:DIRECTORY` loads."""
    from safetensors.torch import save_file

    heads = {k: v.detach().cpu().contiguous() for k, v in model.classifier.head_state().items()}
    return save_checkpoint(
        directory,
        model=model.classifier.encoder,
        tokenizer=model.tokenizer,
        format=FORMAT,
        extras={"sentiment": model.config.model_dump()},
        extra_files={HEADS: lambda path: save_file(heads, str(path))},
    )


def load_sentiment_checkpoint(directory: str | Path) -> TrainedSentiment:
    """Read a checkpoint written by `save_sentiment_checkpoint` (checked before anything loads).

    Raises:
        CheckpointError: see `read_checkpoint`; also a bad `extras.sentiment`, an encoder
            transformers cannot load, or heads that do not fit the recorded configuration.
    """
    from safetensors.torch import load_file
    from transformers import AutoModel, AutoTokenizer

    from phalanx.models.sentiment.model import SentimentClassifier, SentimentConfig

    root = Path(directory).expanduser()
    manifest = read_checkpoint(root, FORMAT)
    try:
        config = SentimentConfig.model_validate(manifest.extras.get("sentiment"))
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(map(str, problem["loc"])) or "(all)"
        raise CheckpointError(f"{root / MANIFEST}: extras.sentiment.{where}: {problem['msg']}") from exc
    if len(config.domain_prior) != len(config.domains):
        raise CheckpointError(f"{root / MANIFEST}: extras.sentiment has one prior per domain too few or many")
    try:
        encoder = AutoModel.from_pretrained(root)
        tokenizer = AutoTokenizer.from_pretrained(root)
    except Exception as exc:  # transformers raises many types for foreign or damaged weights
        raise CheckpointError(f"{root}: transformers cannot load the encoder ({exc})") from exc
    classifier = SentimentClassifier(encoder, config)
    heads_path = root / HEADS
    if not heads_path.is_file():
        raise CheckpointError(f"{heads_path}: missing; save the model with save_sentiment_checkpoint")
    try:
        heads = load_file(str(heads_path))
    except Exception as exc:  # safetensors' own error types for bad headers
        raise CheckpointError(f"{heads_path}: not a readable safetensors file ({exc})") from exc
    expected = classifier.head_state()
    missing, unexpected = sorted(set(expected) - set(heads)), sorted(set(heads) - set(expected))
    wrong = [k for k in expected if k in heads and heads[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        raise CheckpointError(
            f"{heads_path}: does not fit a {config.method} classifier of {len(config.domains)} domains "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]}, wrong shape {wrong[:3]})"
        )
    classifier.load_state_dict(heads, strict=False)
    classifier.eval()
    return TrainedSentiment(classifier, tokenizer)


class SentimentChatModel:
    """A `ChatModel` that classifies the last user message and answers with its sentiment label.

    Args:
        model: the trained classifier.
        name: reported as `ChatResponse.model`.
    """

    supports_tools = False

    def __init__(self, model: TrainedSentiment, *, name: str = "sentiment") -> None:
        self.model = model
        self.name = name
        self._lock = asyncio.Lock()

    async def chat(
        self,
        messages: Sequence[Message],
        *,
        tools: list[dict[str, Any]] | None = None,
        config: GenerationConfig | None = None,
        json_mode: JsonMode = False,
        on_token: TokenCallback | None = None,
    ) -> ChatResponse:
        """Label the last user message; tools and decoding settings do not apply to a classifier."""
        text = next((m.content for m in reversed(messages) if m.role == "user"), None) or ""
        async with self._lock:  # one forward pass at a time on the shared module
            probs = (await asyncio.to_thread(self.model.predict, [text]))[0]
        label = max(probs, key=probs.__getitem__)
        content = json.dumps({"label": label, "probabilities": probs}) if json_mode else label
        if on_token is not None:
            on_token(content)
        tokens = len(
            self.model.tokenizer(text, truncation=True, max_length=self.model.config.max_length)["input_ids"]
        )
        return ChatResponse(
            message=Message.assistant(content),
            usage=Usage(prompt_tokens=tokens, completion_tokens=0),
            model=self.name,
            details={
                "sentiment": {"label": label, "probabilities": probs, "method": self.model.config.method}
            },
        )

    async def aclose(self) -> None:
        return None


@register_backend("sentiment")
def _load(target: str) -> SentimentChatModel:
    return SentimentChatModel(load_sentiment_checkpoint(target), name=f"sentiment:{target}")
