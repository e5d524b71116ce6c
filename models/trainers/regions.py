"""Linguistic regions: which weight elements a model's languages depend on (Zhang et al. 2024).

Follows the official code (zzhang0179/Unveiling-Linguistic-Regions-in-LLMs):

1. `language_importance`: the causal-LM loss over N samples of one language is
   back-propagated and the gradients ACCUMULATED, with no optimizer step
   (`accumulate_grad_mul_params_on_multi_languages.py`); the importance of each element is
   grad ⊙ param (`torch.mul(hp_grad, lp)`), taken in absolute value.
2. `score_languages` sums |grad ⊙ param| over the languages
   (`extract_accumulated_core_linguistic_region.py`).
3. `select_region`: PER WEIGHT MATRIX (not globally) the top `fraction` of elements is the
   core region; the bottom and a random `fraction` are the paper's controls.
   `monolingual_region`: a language's own top elements minus every other language's top
   elements (`extract_accumulated_monolingual_region.py`).
4. `dimension_concentration`: how the region's elements pile up on rows/columns
   (`calculate_row_bool_matrix`, the paper's "dimension dependency").

Only transformer-block matrices count: names containing `layers.` (the official filter),
and 2-D only, so the norms' weight vectors are out as well as embeddings and the LM head.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from phalanx.models.checkpoints.regions import RegionInfo, RegionMask

Selection = Literal["top", "bottom", "random"]
Progress = Callable[[int, int], None]
"""Called as `progress(done, total)` after each unit of work."""

# Matrices that WRITE the residual stream: their rows are hidden-state dimensions; every other
# block matrix reads the stream, so its columns are (Llama / Mistral / Qwen / GPT-NeoX names).
_WRITERS = ("o_proj", "down_proj", "out_proj", "dense_4h_to_h", "attention.dense", "fc2", "c_proj")


def region_parameters(model: Any) -> dict[str, Any]:
    """The parameters a region may cover: 2-D matrices of the transformer blocks (`layers.` in the name)."""
    return {name: p for name, p in model.named_parameters() if "layers." in name and p.dim() == 2}


@dataclass
class ImportanceScores:
    """Σ over languages of |grad ⊙ param| per matrix, and (optionally) each language's own scores."""

    total: dict[str, Any]
    languages: list[str]
    samples: int
    """Samples (token blocks) accumulated per language."""
    per_language: dict[str, dict[str, Any]] = field(default_factory=dict)


def language_importance(
    model: Any, blocks: list[list[int]], *, batch_size: int = 4, progress: Progress | None = None
) -> dict[str, Any]:
    """|grad ⊙ param| of every region matrix, the gradient accumulated over `blocks` (no optimizer step).

    Each block is one sample; its mean token loss is back-propagated and the gradients add
    up, as when the official script runs batch after batch without stepping. Parameters
    outside the region (embeddings, LM head, norms) get no gradient, which saves memory.
    """
    import torch

    targets = region_parameters(model)
    saved = {name: p.requires_grad for name, p in model.named_parameters()}
    for name, p in model.named_parameters():
        p.requires_grad_(name in targets)
        p.grad = None
    model.eval()  # no dropout: the gradient of the model as it is
    try:
        device = next(model.parameters()).device
        total = len(blocks)
        for start in range(0, total, batch_size):
            batch = torch.tensor(blocks[start : start + batch_size], device=device)
            loss = model(input_ids=batch, labels=batch).loss
            # Per-sample mean losses summed: the same gradient as accumulating one sample at a time.
            (loss * batch.shape[0]).backward()
            if progress is not None:
                progress(min(start + batch_size, total), total)
        with torch.no_grad():
            scores = {
                name: (p.grad.float() * p.detach().float()).abs()
                if p.grad is not None
                else torch.zeros(p.shape, dtype=torch.float32, device=p.device)
                for name, p in targets.items()
            }
    finally:
        for name, p in model.named_parameters():
            p.grad = None
            p.requires_grad_(saved[name])
    return scores


def score_languages(
    model: Any,
    blocks_by_language: dict[str, list[list[int]]],
    *,
    batch_size: int = 4,
    keep_per_language: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> ImportanceScores:
    """Importance summed over languages (the core-region score); `keep_per_language` for monolingual regions.

    Args:
        progress: called as `progress(language, done, total)`.
    """
    total: dict[str, Any] = {}
    per_language: dict[str, dict[str, Any]] = {}
    counts = {len(b) for b in blocks_by_language.values()}
    for language, blocks in blocks_by_language.items():
        report = (lambda d, t, lang=language: progress(lang, d, t)) if progress else None
        scores = language_importance(model, blocks, batch_size=batch_size, progress=report)
        for name, score in scores.items():
            if name in total:
                total[name] += score
            else:
                total[name] = score.clone() if keep_per_language else score
        if keep_per_language:
            per_language[language] = scores
    return ImportanceScores(
        total=total,
        languages=list(blocks_by_language),
        samples=min(counts) if counts else 0,
        per_language=per_language,
    )


def _select(score: Any, count: int, selection: Selection, generator: Any) -> Any:
    import torch

    flat = score.reshape(-1)
    if selection == "random":
        index = torch.randperm(flat.numel(), generator=generator)[:count].to(flat.device)
    else:
        index = torch.topk(flat, count, largest=selection == "top").indices
    chosen = torch.zeros(flat.numel(), dtype=torch.bool, device=flat.device)
    chosen[index] = True
    return chosen.reshape(score.shape).cpu()


def region_size(numel: int, fraction: float) -> int:
    """Elements of a matrix in a region: `int(fraction * numel)` as the official code, at least one."""
    return max(1, int(fraction * numel))


def select_region(
    scores: ImportanceScores,
    *,
    fraction: float = 0.01,
    selection: Selection = "top",
    seed: int = 0,
) -> RegionMask:
    """The region of `scores`: per matrix, the top, bottom or a random `fraction` of its elements.

    Raises:
        ValueError: `fraction` outside (0, 1] or an unknown `selection`.
    """
    import torch

    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction} (0.01 is the paper's 1 %)")
    if selection not in ("top", "bottom", "random"):
        raise ValueError(f"selection must be top, bottom or random, got {selection!r}")
    generator = torch.Generator().manual_seed(seed)
    masks = {
        name: _select(score, region_size(score.numel(), fraction), selection, generator)
        for name, score in scores.total.items()
    }
    info = RegionInfo(
        selection=selection, fraction=fraction, languages=scores.languages, samples=scores.samples
    )
    return RegionMask(masks, info)


def monolingual_region(scores: ImportanceScores, language: str, *, fraction: float = 0.01) -> RegionMask:
    """`language`'s own region: its top `fraction` per matrix minus every other language's top elements.

    Raises:
        ValueError: the scores were computed without `keep_per_language`, or lack `language`.
    """
    if language not in scores.per_language:
        raise ValueError(
            f"no per-language scores for {language!r} (have: {', '.join(scores.per_language) or 'none'}); "
            "score with keep_per_language=True and include the language"
        )

    def top(lang: str, name: str) -> Any:
        score = scores.per_language[lang][name]
        return _select(score, region_size(score.numel(), fraction), "top", None)

    masks = {}
    for name in scores.total:
        mask = top(language, name)
        for other in scores.per_language:
            if other != language:
                mask &= ~top(other, name)
        masks[name] = mask
    info = RegionInfo(
        selection="monolingual",
        fraction=fraction,
        languages=scores.languages,
        language=language,
        samples=scores.samples,
    )
    return RegionMask(masks, info)


class MatrixConcentration(BaseModel):
    """How one matrix's region elements spread over its rows and columns."""

    name: str
    elements: int
    """Region elements in the matrix."""
    top_rows: list[tuple[int, int]]
    """(row index, region elements in that row), most first."""
    top_cols: list[tuple[int, int]]
    top_row_share: float
    """Share of the matrix's region elements in its `top` fullest rows."""
    top_col_share: float
    uniform_share: float
    """What `top_row_share` would be if the region spread evenly over the rows."""


class DimensionReport(BaseModel):
    """The region's dimension dependency: per matrix, and per hidden-state dimension over all matrices."""

    matrices: list[MatrixConcentration]
    hidden_dims: list[tuple[int, int]]
    """(hidden-state dimension, region elements on it summed over every matrix), most first."""
    hidden_share: float
    """Share of all region elements on the listed hidden dimensions."""
    hidden_uniform_share: float
    """That share if the region spread evenly over the hidden dimensions."""


def _top(counts: Any, n: int) -> list[tuple[int, int]]:
    import torch

    values, index = torch.topk(counts, min(n, counts.numel()))
    return [(int(i), int(v)) for i, v in zip(index.tolist(), values.tolist(), strict=True)]


def dimension_concentration(
    mask: RegionMask, *, top: int = 5, hidden_size: int | None = None
) -> DimensionReport:
    """Rows/columns holding most of each matrix's region (official `calculate_row_bool_matrix`).

    Args:
        top: rows, columns and hidden dimensions to list.
        hidden_size: the residual-stream width; found as the most common matrix side if omitted.
    """
    import torch

    matrices: list[MatrixConcentration] = []
    sides: dict[int, int] = {}
    for m in mask.masks.values():
        for side in m.shape:
            sides[side] = sides.get(side, 0) + 1
    width = hidden_size or max(sides, key=lambda s: sides[s])
    hidden = torch.zeros(width, dtype=torch.long)
    for name, m in mask.masks.items():
        rows, cols = m.sum(dim=1), m.sum(dim=0)
        elements = int(m.sum())
        top_rows, top_cols = _top(rows, top), _top(cols, top)
        matrices.append(
            MatrixConcentration(
                name=name,
                elements=elements,
                top_rows=top_rows,
                top_cols=top_cols,
                top_row_share=sum(c for _, c in top_rows) / elements if elements else 0.0,
                top_col_share=sum(c for _, c in top_cols) / elements if elements else 0.0,
                uniform_share=min(top, m.shape[0]) / m.shape[0],
            )
        )
        writes = any(w in name for w in _WRITERS)
        axis = rows if writes else cols
        if axis.numel() == width:
            hidden += axis
    total = int(hidden.sum())
    dims = _top(hidden, top)
    return DimensionReport(
        matrices=matrices,
        hidden_dims=dims,
        hidden_share=sum(c for _, c in dims) / total if total else 0.0,
        hidden_uniform_share=min(top, width) / width,
    )
