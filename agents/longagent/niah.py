"""Needle-in-a-haystack (NIAH) tests for LongAgent teams: build, run, score, plot.

A case hides one (single-hop) or two (multi-hop) needle sentences in a haystack
of `length` member tokens, the answer-bearing needle at `depth` percent of the
document, and asks a question only the needles answer. Scoring is exact match
after normalisation (`exact_match`), with containment (`contains_match`) kept
beside it. Results go to JSONL, a depth x length accuracy heatmap (PNG) and an
HTML report.
"""

from __future__ import annotations

import base64
import html
import json
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from phalanx.agents.longagent.chunking import RegexTokenizer, TokenOffsets
from phalanx.agents.longagent.communication import normalise
from phalanx.agents.longagent.corpus import generate_corpus

_PLACES = "Arden Belmora Castril Dunmere Elswick Farrow Glenhaven Harlow Istmere Jorvale".split()
_ANIMALS = "otter heron lynx badger falcon walrus ibex marten".split()
_COLOURS = "crimson violet amber teal scarlet indigo ochre cobalt".split()


class Needle(BaseModel):
    """One sentence hidden in the haystack."""

    text: str
    depth: float
    """Requested depth in percent of the document's tokens."""


class NiahCase(BaseModel):
    """One NIAH test: a document, a question and its gold answer."""

    id: str
    kind: Literal["single", "multi"]
    length: int
    """Requested length in member tokens."""
    depth: float
    """Depth (percent) of the answer-bearing needle."""
    document: str
    question: str
    answer: str
    needles: list[Needle]
    needle_token_index: list[int]
    """Token index where each needle starts in `document` (same order as `needles`)."""
    n_tokens: int


class NiahResult(BaseModel):
    """One scored case (the document itself is left out)."""

    id: str
    kind: str
    length: int
    depth: float
    question: str
    answer: str
    prediction: str | None
    status: str
    exact_match: bool
    contains_match: bool
    rounds: int
    num_members: int


class NiahSummary(BaseModel):
    """A sweep in numbers, and where its files are."""

    cases: int
    exact_match: float
    """Share of cases answered exactly (after normalisation)."""
    contains_match: float
    """Share of cases whose answer contains the gold answer."""
    results: str
    heatmap: str
    report: str

    @classmethod
    def of(cls, results: Sequence[NiahResult], out_dir: str | Path) -> NiahSummary:
        """The summary of `results`, a sweep written to `out_dir` by `run_niah`."""
        out = Path(out_dir)
        n = max(len(results), 1)
        return cls(
            cases=len(results),
            exact_match=sum(r.exact_match for r in results) / n,
            contains_match=sum(r.contains_match for r in results) / n,
            results=str(out / "results.jsonl"),
            heatmap=str(out / "heatmap.png"),
            report=str(out / "report.html"),
        )


def make_needles(kind: Literal["single", "multi"], rng: random.Random) -> tuple[list[str], str, str]:
    """Needle sentences (answer-bearing one last), question and answer."""
    value = str(rng.randint(10_000, 99_999))
    if kind == "single":
        place = rng.choice(_PLACES)
        return (
            [f"The secret code of the {place} vault is {value}."],
            (f"What is the secret code of the {place} vault? Answer with the number only."),
            value,
        )
    if kind == "multi":
        animal, colour = rng.choice(_ANIMALS), rng.choice(_COLOURS)
        return (
            [
                f"The {animal} keeper keeps the key in the {colour} locker.",
                f"The {colour} locker holds the code {value}.",
            ],
            # No content word of the question is in the second hop: reaching the answer takes
            # the first hop's evidence (a second round, or a merger reading both chunks).
            f"What is the secret of the {animal} keeper? Answer with the number only.",
            value,
        )
    raise ValueError(f"needles must be 'single' or 'multi', got {kind!r}")


def _haystack(corpus: str, n_tokens: int, tokenizer: TokenOffsets) -> str:
    if n_tokens <= 0:
        return ""
    per_copy = max(len(tokenizer.offsets(corpus)), 1)
    # A short corpus is repeated (tokenised once, not once per copy).
    text = "\n\n".join([corpus] * (n_tokens // per_copy + 1))
    spans = tokenizer.offsets(text)
    return text[: spans[min(n_tokens, len(spans)) - 1][1]]


def _insert_at(text: str, token_index: int, sentence: str, tokenizer: TokenOffsets) -> str:
    """Insert `sentence` at the sentence boundary nearest before token `token_index`."""
    spans = tokenizer.offsets(text)
    if not spans or token_index <= 0:
        return sentence + " " + text
    if token_index >= len(spans):
        return text + " " + sentence
    char = spans[token_index][0]
    lo = max(char - 400, 0)  # a corpus without sentences: fall back to the token itself
    cut = max(text.rfind(". ", lo, char), text.rfind("\n", lo, char))
    cut = cut + 2 if cut >= 0 and text[cut] == "." else (cut + 1 if cut >= 0 else char)
    return text[:cut] + sentence + " " + text[cut:]


def build_case(
    length: int,
    depth: float,
    kind: Literal["single", "multi"] = "single",
    *,
    corpus: str | None = None,
    tokenizer: TokenOffsets | None = None,
    seed: int = 0,
) -> NiahCase:
    """Build one NIAH case of about `length` tokens with the answer needle at `depth` percent.

    Multi-hop: the first-hop needle sits half a document away from the answer
    needle (at `(depth + 50) % 100`), so the two hops usually land in different
    members' chunks and need the leader or a merger to connect them.
    """
    if not 0 <= depth <= 100:
        raise ValueError(f"depth must be in [0, 100] percent, got {depth}")
    tok = tokenizer or RegexTokenizer()
    rng = random.Random(f"{seed}-{kind}-{length}-{depth}")
    sentences, question, answer = make_needles(kind, rng)
    depths = [depth] if kind == "single" else [(depth + 50) % 100, depth]
    needle_tokens = sum(len(tok.offsets(s)) for s in sentences)
    if length <= needle_tokens:
        raise ValueError(f"length {length} is too short for the needles ({needle_tokens} tokens)")
    corpus = corpus or generate_corpus(max(length, 2_000) // 3 * 2 + 200, seed=seed)
    text = _haystack(corpus, length - needle_tokens, tok)
    # Insert deeper needles first so earlier insertions do not shift them.
    hay_tokens = len(tok.offsets(text))
    for s, d in sorted(zip(sentences, depths, strict=True), key=lambda x: -x[1]):
        text = _insert_at(text, round(hay_tokens * d / 100), s, tok)
    spans = tok.offsets(text)
    starts = [text.index(s) for s in sentences]
    positions = [next(i for i, sp in enumerate(spans) if sp[0] >= c) for c in starts]
    return NiahCase(
        id=f"{kind}-{length}-{depth:g}-{seed}",
        kind=kind,
        length=length,
        depth=depth,
        document=text,
        question=question,
        answer=answer,
        needles=[Needle(text=s, depth=d) for s, d in zip(sentences, depths, strict=True)],
        needle_token_index=positions,
        n_tokens=len(spans),
    )


def exact_match(prediction: str | None, gold: str) -> bool:
    """Normalised prediction equals normalised gold (case, punctuation, articles ignored)."""
    return prediction is not None and normalise(prediction) == normalise(gold)


def contains_match(prediction: str | None, gold: str) -> bool:
    """The normalised gold appears as whole words in the normalised prediction."""
    if prediction is None:
        return False
    return f" {normalise(gold)} " in f" {normalise(prediction)} "


def parse_length(text: str) -> int:
    """`8k` -> 8192, `128K` -> 131072, `500` -> 500."""
    t = text.strip().lower()
    try:
        return int(float(t[:-1]) * 1024) if t.endswith("k") else int(t)
    except ValueError:
        raise ValueError(f"bad length {text!r}; use numbers of tokens like 8k,32k,128k or 4000") from None


def parse_lengths(text: str) -> list[int]:
    """A sweep's document lengths from `8k,32k,128k` (at least one)."""
    lengths = [parse_length(x) for x in text.split(",") if x.strip()]
    if not lengths or any(n <= 0 for n in lengths):
        raise ValueError(f"bad lengths {text!r}; give one or more positive token counts like 8k,32k,128k")
    return lengths


def parse_depths(text: str) -> list[float]:
    """A sweep's needle depths from `0,25,50,75,100` (percent; at least one, each in [0, 100])."""
    try:
        depths = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        depths = []
    if not depths or any(not 0 <= d <= 100 for d in depths):
        raise ValueError(f"bad depths {text!r}; give one or more percentages in [0, 100] like 0,25,50,75,100")
    return depths


def heatmap(results: Sequence[NiahResult], path: str | Path, metric: str = "exact_match") -> Path:
    """Write a depth x length accuracy heatmap PNG (mean of `metric` per cell)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    lengths = sorted({r.length for r in results})
    depths = sorted({r.depth for r in results})
    grid = np.full((len(depths), len(lengths)), np.nan)
    for i, d in enumerate(depths):
        for j, n in enumerate(lengths):
            cell = [float(getattr(r, metric)) for r in results if r.depth == d and r.length == n]
            if cell:
                grid[i, j] = sum(cell) / len(cell)
    fig, ax = plt.subplots(figsize=(1.4 * len(lengths) + 2.5, 0.6 * len(depths) + 1.8))
    im = ax.imshow(grid, vmin=0, vmax=1, cmap="RdYlGn", aspect="auto")
    ax.set_xticks(range(len(lengths)), [f"{n // 1024}K" if n % 1024 == 0 else str(n) for n in lengths])
    ax.set_yticks(range(len(depths)), [f"{d:g}%" for d in depths])
    ax.set_xlabel("document length (tokens)")
    ax.set_ylabel("needle depth")
    for i in range(len(depths)):
        for j in range(len(lengths)):
            if not np.isnan(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", fontsize=8)
    fig.colorbar(im, ax=ax, label=metric.replace("_", " "))
    ax.set_title("LongAgent needle-in-a-haystack accuracy")
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def write_report(
    results: Sequence[NiahResult], out_dir: str | Path, metric: str = "exact_match"
) -> dict[str, Path]:
    """Write `results.jsonl`, `heatmap.png` and `report.html` to `out_dir`; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jsonl = out / "results.jsonl"
    jsonl.write_text("".join(r.model_dump_json() + "\n" for r in results))
    png = heatmap(results, out / "heatmap.png", metric)
    acc = sum(getattr(r, metric) for r in results) / max(len(results), 1)
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(str(v))}</td>"
            for v in (r.id, r.length, f"{r.depth:g}", r.answer, r.prediction, r.status, r.exact_match)
        )
        + "</tr>"
        for r in results
    )
    img = base64.b64encode(png.read_bytes()).decode()
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>phalanx NIAH report</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{border:1px solid #ccc;padding:2px 6px}"
        "table{border-collapse:collapse}</style></head><body>"
        f"<h1>LongAgent needle-in-a-haystack</h1><p>{len(results)} cases, mean {metric}: {acc:.3f}</p>"
        f"<img alt='depth x length heatmap' src='data:image/png;base64,{img}'>"
        "<table><tr><th>id</th><th>length</th><th>depth</th><th>gold</th><th>prediction</th>"
        f"<th>status</th><th>exact</th></tr>{rows}</table></body></html>"
    )
    report = out / "report.html"
    report.write_text(page)
    return {"results": jsonl, "heatmap": png, "report": report}


async def run_niah(
    make_team: Callable[[], Any],
    lengths: Sequence[int],
    depths: Sequence[float],
    kind: Literal["single", "multi"] = "single",
    *,
    out_dir: str | Path,
    corpus: str | None = None,
    seed: int = 0,
    on_result: Callable[[NiahResult], None] | None = None,
) -> list[NiahResult]:
    """Run a team on every (length, depth) case, score it and write the report.

    Args:
        make_team: returns the `LongAgentTeam` to test (called once; reused per case).
        lengths, depths: the grid (tokens of the member tokenizer; percent).
        kind: `single` or `multi` needles.
        out_dir: where results.jsonl, heatmap.png and report.html go.
        corpus: haystack text (default: the built-in generated corpus).
        on_result: called after each case (progress bars).
    """
    from phalanx.agents.longagent.chunking import tokenizer_for

    team = make_team()
    tok = tokenizer_for(team.member)
    base = corpus or generate_corpus(max(lengths) // 3 * 2 + 500, seed=seed)
    results: list[NiahResult] = []
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    partial = out / "results.partial.jsonl"
    partial.write_text("")
    for n in lengths:
        for d in depths:
            case = build_case(n, d, kind, corpus=base, tokenizer=tok, seed=seed)
            res = await team.arun(case.document, case.question)
            r = NiahResult(
                id=case.id,
                kind=case.kind,
                length=case.length,
                depth=case.depth,
                question=case.question,
                answer=case.answer,
                prediction=res.answer,
                status=res.status,
                exact_match=exact_match(res.answer, case.answer),
                contains_match=contains_match(res.answer, case.answer),
                rounds=res.rounds,
                num_members=res.num_members,
            )
            results.append(r)
            # Written as we go so an interrupted sweep keeps what it finished.
            with partial.open("a") as fh:
                fh.write(json.dumps(r.model_dump()) + "\n")
            if on_result:
                on_result(r)
    write_report(results, out)
    partial.unlink(missing_ok=True)
    return results
