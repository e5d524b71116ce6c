"""The input stage's trained request classifier: is this request asking for harm?

A small head (logistic regression by default) on the offline MiniLM sentence embeddings, trained on
public labelled request sets found in packages (`data/input_guard/`, sources, licences and package
hashes in its NOTICE.md) plus the policy's own seed requests. The ToolSword input guards' seeds do
not carry to prompt sets they never saw; a topic classifier trained on many sources does better,
and the input stage is a topic task (unlike the stance problem of harmful tool output).

The threshold is calibrated by leave-one-source-out cross-validation: each training source is
scored by a head fitted on the others, and the threshold is the `1 - target_fpr` quantile of those
held-out benign scores. This estimates how the classifier does on a set it never saw, which a random
split (same sources on both sides) would overstate. The shipped model keeps the digests of the data
it was trained from; `phalanx policies train-input-guard` rebuilds it and
`phalanx policies eval-input-guard` measures it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from phalanx.policies.embedder import float_tensors
from phalanx.policies.errors import PolicyConfigError
from phalanx.policies.harm_corpus import corpus_digest, open_npz, read_corpora, read_corpus
from phalanx.policies.request_phrasing import drop_overlapping, rephrase_requests

DATA_DIR = Path(__file__).with_name("data") / "input_guard"
DEFAULT_MODEL = DATA_DIR / "request_classifier.npz"
TRAIN_HARMFUL = DATA_DIR / "train_harmful.jsonl"
TRAIN_BENIGN = DATA_DIR / "train_benign.jsonl"
EVAL_DIR = DATA_DIR / "eval"
HELDOUT_PROBES = DATA_DIR / "heldout_probes.txt"
"""Known lines of the held-out judges (AdvBench, JailbreakBench, XSTest): never trained on."""
MAX_CHARS = 2000
"""A request is embedded from its first characters (MiniLM reads 128 tokens of them anyway)."""

Progress = Callable[[int, int, str], None]
Rows = Sequence[dict[str, str]]


@dataclass
class RequestClassifier:
    """A feed-forward head over sentence embeddings that gives P(harmful request).

    Attributes:
        layers: (weight, bias) pairs; ReLU between them, a sigmoid after the last (one pair is
            logistic regression).
        threshold: probability at or above which a request is flagged.
        meta: provenance: training-data digests and sources, the head, cross-validated metrics.
    """

    layers: list[tuple[np.ndarray, np.ndarray]]
    threshold: float = 0.5
    meta: dict[str, Any] = field(default_factory=dict)
    anchors: np.ndarray | None = None
    """Embeddings of the benign training requests (rows, float16 on disk): `malicious_query` counts
    them among its benign prototypes."""
    _tensors: Any = field(default=None, repr=False, compare=False)

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        """P(harmful) for embedded requests (rows of `vectors`)."""
        import torch

        if len(vectors) == 0:
            return np.zeros(0, dtype=np.float32)
        if self._tensors is None:
            self._tensors = [tuple(float_tensors(w, b)) for w, b in self.layers]
        [h] = float_tensors(vectors)
        for i, (w, b) in enumerate(self._tensors):
            h = h @ w + b
            if i < len(self._tensors) - 1:
                h = torch.relu(h)
        return torch.sigmoid(h[:, 0]).numpy()

    def score(self, texts: Sequence[str], embedder) -> np.ndarray:
        """P(harmful) for each request text."""
        return self.probabilities(embedder.embed([t[:MAX_CHARS] for t in texts]))

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, Any] = {
            "n_layers": np.array(len(self.layers)),
            "threshold": np.array(self.threshold),
            "meta": np.array(json.dumps(self.meta, sort_keys=True)),
        }
        for i, (w, b) in enumerate(self.layers):
            arrays[f"w{i}"], arrays[f"b{i}"] = w.astype(np.float32), b.astype(np.float32)
        if self.anchors is not None:
            arrays["anchors"] = self.anchors.astype(np.float16)
        np.savez_compressed(path, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path | None = None) -> RequestClassifier:
        """Read a classifier (the shipped one by default).

        Raises:
            PolicyConfigError: the file is missing or is not a request classifier.
        """
        p = Path(path) if path else DEFAULT_MODEL
        with open_npz(p, "request classifier", "phalanx policies train-input-guard") as f:
            n = int(f["n_layers"])
            return cls(
                layers=[(f[f"w{i}"], f[f"b{i}"]) for i in range(n)],
                threshold=float(f["threshold"]),
                meta=json.loads(str(f["meta"])),
                anchors=f["anchors"].astype(np.float32) if "anchors" in f.files else None,
            )


@cache
def shared_classifier(model: str = "default") -> RequestClassifier:
    """The classifier a policy names (`default`: the shipped one, else a path), read once per process
    and shared by the guards that use it (`request_classifier`, `malicious_query`'s benign anchors).

    Raises:
        PolicyConfigError: the file is missing or is not a request classifier.
    """
    return RequestClassifier.load(None if model == "default" else model)


# ---------------------------------------------------------------------- data
def training_sets(
    seeds=None,
    harmful_files: Sequence[str | Path] = (),
    benign_files: Sequence[str | Path] = (),
    *,
    format: str | None = None,
    column: str | None = None,
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The training requests: the given files (else the shipped ones) plus the seed requests, if any.

    Seeds: `harmful_requests` and `jailbreak_prototypes` on the harmful side, `benign_requests` and
    the sensitive-but-safe `sensitive_requests` on the benign side. With no files and the shipped
    seeds, these are the sets the shipped model was trained from.

    Raises:
        PolicyConfigError: a file is missing or malformed (file and line named).
    """
    harmful = read_corpora(harmful_files, TRAIN_HARMFUL, format, column)
    benign = read_corpora(benign_files, TRAIN_BENIGN, format, column)
    if seeds is not None:
        for name, group in (
            ("harmful_requests", seeds.harmful_requests),
            ("jailbreak_prototypes", seeds.jailbreak_prototypes),
        ):
            harmful += [{"text": t, "source": f"seeds:{name}"} for items in group.values() for t in items]
        # The sensitive-but-safe contrast requests join the benign seeds as one source.
        benign += [
            {"text": t, "source": "seeds:benign_requests"}
            for group in (seeds.benign_requests, seeds.sensitive_requests)
            for items in group.values()
            for t in items
        ]
    return harmful, benign


def evaluation_sets() -> dict[str, tuple[str, list[dict[str, str]]]]:
    """The shipped evaluation-only sets by name: (kind, rows); kind is harmful, jailbreak, benign or
    sensitive. No source of these is in the training data (see NOTICE.md)."""
    kinds = {
        "harmbench": "harmful",
        "inthewild_jailbreaks": "jailbreak",
        "persistbench": "benign",
        "donotanswer_misinformation": "sensitive",
    }
    return {name: (kind, read_corpus(EVAL_DIR / f"{name}.jsonl")) for name, kind in kinds.items()}


def evaluation_only_texts() -> list[str]:
    """Texts nothing may be trained on: the shipped evaluation sets, the ToolSword records and the
    known lines of the held-out judges. Training drops restatements that reproduce any of them."""
    from phalanx.policies.toolsword_data import TOOLSWORD_DIR

    texts = [row["text"] for _, rows in evaluation_sets().values() for row in rows]
    texts += [p.read_text(encoding="utf-8") for p in sorted(TOOLSWORD_DIR.rglob("*.json"))]
    if HELDOUT_PROBES.exists():
        texts += [
            line
            for line in HELDOUT_PROBES.read_text(encoding="utf-8").splitlines()
            if not line.startswith("#")
        ]
    return texts


def restatements(
    harmful: Rows, benign: Rows, per_row: int, seed: int = 0, avoid: Sequence[str] | None = None
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The restatements training adds to each side (`request_phrasing.rephrase_requests`), without
    those that reproduce an `avoid` text (default `evaluation_only_texts()`)."""
    out = [rephrase_requests(harmful, per_row, seed), rephrase_requests(benign, per_row, seed)]
    if per_row and any(out):
        banned = evaluation_only_texts() if avoid is None else list(avoid)
        out = [drop_overlapping(rows, banned) for rows in out]
    return out[0], out[1]


def heldout_requests(
    harmful_files: Sequence[str | Path] = (),
    benign_files: Sequence[str | Path] = (),
    *,
    format: str | None = None,
    column: str | None = None,
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Requests to measure a classifier on: the given files, else the shipped evaluation-only sets
    (harmful: `harmbench`; benign: `persistbench` and the sensitive-but-safe set).

    Raises:
        PolicyConfigError: a file is missing or malformed (file and line named).
    """
    sets = evaluation_sets() if not (harmful_files and benign_files) else {}

    def side(files: Sequence[str | Path], kinds: tuple[str, ...]) -> list[dict[str, str]]:
        if files:
            return [row for p in files for row in read_corpus(p, format=format, column=column)]
        return [row for kind, rows in sets.values() if kind in kinds for row in rows]

    return side(harmful_files, ("harmful",)), side(benign_files, ("benign", "sensitive"))


# ---------------------------------------------------------------------- training
def _embed(embedder, texts: Sequence[str], progress: Progress | None, batch: int = 128) -> np.ndarray:
    parts = []
    for start in range(0, len(texts), batch):
        parts.append(embedder.embed([t[:MAX_CHARS] for t in texts[start : start + batch]]))
        if progress:
            progress(min(start + batch, len(texts)), len(texts), "embedding requests")
    return np.concatenate(parts) if parts else np.zeros((0, 384), dtype=np.float32)


def source_weights(y: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Sample weights that give each class, and each source within a class, the same total weight.

    Without them the largest sources set the decision boundary, and the head learns their style
    (a factual-question set, a writing-request set) instead of what makes a request harmful:
    in leave-one-source-out cross-validation on the shipped sets, this raised the AUC from 0.81 to 0.85.
    """
    w = np.ones(len(y))
    for lab in (0, 1):
        in_class = y == lab
        names = set(groups[in_class])
        for g in names:
            members = groups == g
            w[members] = 1.0 / members.sum() / len(names)
    return w / w.mean()


def _fit(
    x: np.ndarray, y: np.ndarray, groups: np.ndarray, head: str, c: float, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    weights = source_weights(y, groups)
    if head == "logistic":
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=c, max_iter=5000)
        lr.fit(x, y, sample_weight=weights)
        return [(lr.coef_.T.astype(np.float32), lr.intercept_.astype(np.float32))]
    if head == "mlp":
        from sklearn.neural_network import MLPClassifier

        # MLPClassifier takes no sample weights: draw a training set in proportion to them.
        rng = np.random.default_rng(seed)
        idx = rng.choice(len(y), size=2 * len(y), replace=True, p=weights / weights.sum())
        mlp = MLPClassifier((128,), alpha=1.0 / c, max_iter=400, random_state=seed)
        mlp.fit(x[idx], y[idx])
        return [
            (w.astype(np.float32), b.astype(np.float32))
            for w, b in zip(mlp.coefs_, mlp.intercepts_, strict=True)
        ]
    raise PolicyConfigError(f"unknown head {head!r}; use logistic or mlp")


def train_request_classifier(
    harmful: Rows,
    benign: Rows,
    embedder,
    *,
    head: str = "logistic",
    c: float = 0.1,
    target_fpr: float = 0.02,
    seed: int = 0,
    rephrase: int = 3,
    avoid: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> RequestClassifier:
    """Fit the head on all rows and calibrate its threshold by leave-one-source-out cross-validation.

    Args:
        harmful, benign: `{"text", "source"}` rows; `source` groups rows for the cross-validation.
        embedder: a `SentenceEmbedder` (anything with `embed(texts) -> array`).
        head: `logistic` or `mlp` (one hidden layer of 128).
        c: inverse regularisation strength. In leave-one-source-out cross-validation on the
            shipped sets the AUC was 0.85-0.86 from 0.05 to 0.3 and fell to 0.82 at 8.
        target_fpr: share of held-out benign requests allowed above the threshold.
        rephrase: restatements per short request in other request forms, on both sides
            (`phalanx.policies.request_phrasing`; 0: none). They train the head and sit in their
            source's fold; the threshold and the cross-validated rates use the original rows only.
        avoid: texts no restatement may reproduce (an 8-word run or a whole line); default
            `evaluation_only_texts()`.
        progress: called as `progress(done, total, label)`.

    Raises:
        PolicyConfigError: an empty side, a bad `target_fpr` or an unknown head.
    """
    if not 0 < target_fpr < 1:
        raise PolicyConfigError(f"target_fpr must be in (0, 1), got {target_fpr}")
    if not harmful or not benign:
        raise PolicyConfigError("both the harmful and the benign side need at least one request")
    if rephrase < 0:
        raise PolicyConfigError(f"rephrase must be >= 0, got {rephrase}")
    restated_harmful, restated_benign = restatements(harmful, benign, rephrase, seed, avoid)
    extra = [(r, 1) for r in restated_harmful] + [(r, 0) for r in restated_benign]
    rows = [(r, 1) for r in harmful] + [(r, 0) for r in benign]
    x = _embed(embedder, [r["text"] for r, _ in rows + extra], progress)
    y = np.array([lab for _, lab in rows + extra])
    groups = np.array([f"{lab}:{r['source']}" for r, lab in rows + extra])
    original = np.arange(len(y)) < len(rows)
    # The seeds are the policy's own prototypes, present wherever the model runs: they are never
    # held out, so each fold asks how a public source the model never saw is scored.
    names = sorted({g for g in groups if ":seeds:" not in g})
    oos = np.full(len(y), np.nan)
    if len({g.split(":", 1)[0] for g in names}) == 2:
        for i, g in enumerate(names):
            test = groups == g
            train = ~test
            if len(set(y[train])) < 2:  # the only source of its class: nothing left to learn it from
                continue
            model = RequestClassifier(_fit(x[train], y[train], groups[train], head, c, seed))
            oos[test] = model.probabilities(x[test])
            if progress:
                progress(i + 1, len(names), "leave-one-source-out folds")
    oos[~original] = np.nan  # restatements train the folds; only the original rows judge them
    known = ~np.isnan(oos)
    benign_oos = oos[known & (y == 0)]
    threshold = float(np.quantile(benign_oos, 1 - target_fpr)) if len(benign_oos) else 0.5

    def rates(lab: int) -> dict[str, float]:
        by: dict[str, list[bool]] = {}
        for (r, yl), s in zip(rows, oos[: len(rows)], strict=True):
            if yl == lab and not np.isnan(s):
                by.setdefault(r["source"], []).append(bool(s >= threshold))
        return {src: round(float(np.mean(v)), 4) for src, v in sorted(by.items())}

    def sources(side: Rows) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in side:
            out[r["source"]] = out.get(r["source"], 0) + 1
        return dict(sorted(out.items()))

    # The benign training requests (originals, seeds included) as embedded rows: `malicious_query`
    # compares a turn with them (a nearest-neighbour margin) before calling it harmful.
    anchors = x[original & (y == 0)].astype(np.float16)
    model = RequestClassifier(_fit(x, y, groups, head, c, seed), threshold=threshold, anchors=anchors)
    model.meta = {
        "head": head,
        "c": c,
        "target_fpr": target_fpr,
        "max_chars": MAX_CHARS,
        "rephrase": {"per_row": rephrase, "seed": seed, "rows": len(extra)},
        "anchors": {"rows": len(anchors), "of": "the benign training requests"},
        "embedder": getattr(embedder, "model_id", "all-MiniLM-L6-v2"),
        "documents": {"harmful": len(harmful), "benign": len(benign)},
        "sources": {"harmful": sources(harmful), "benign": sources(benign)},
        "data_digest": {"harmful": corpus_digest(harmful), "benign": corpus_digest(benign)},
        "cv": {
            "scheme": "leave-one-source-out",
            "threshold": round(threshold, 5),
            # rows scored by a head that never saw their source (originals only, seeds never held out)
            "rows_scored": {
                "harmful": int((known & (y == 1)).sum()),
                "benign": int((known & (y == 0)).sum()),
            },
            "recall": round(float(np.mean(oos[known & (y == 1)] >= threshold)), 4) if known.any() else None,
            "fpr": round(float(np.mean(benign_oos >= threshold)), 4) if len(benign_oos) else None,
            "recall_by_source": rates(1),
            "fpr_by_source": rates(0),
        },
    }
    return model


def evaluate_request_classifier(
    model: RequestClassifier,
    harmful: Rows,
    benign: Rows,
    embedder,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Detection on `harmful` and false blocks on `benign`, overall and per source, at the model's threshold."""
    out: dict[str, Any] = {"threshold": round(model.threshold, 5)}
    for key, rows in (("detection", harmful), ("false_blocks", benign)):
        probs = (
            model.probabilities(_embed(embedder, [r["text"] for r in rows], progress))
            if rows
            else np.zeros(0)
        )
        by: dict[str, list[bool]] = {}
        for r, p in zip(rows, probs, strict=True):
            by.setdefault(r["source"], []).append(bool(p >= model.threshold))
        flat = [v for vs in by.values() for v in vs]
        out[key] = round(float(np.mean(flat)), 4) if flat else None
        out[f"{key}_by_source"] = {k: round(float(np.mean(v)), 4) for k, v in sorted(by.items())}
    out["n"] = {"harmful": len(harmful), "benign": len(benign)}
    return out
