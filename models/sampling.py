"""Choosing each row's next token: penalties, grammar masks, greedy or sampled.

Rows of one decode step may carry different settings. The sampling warpers are
transformers' own (`TemperatureLogitsWarper`, `TopKLogitsWarper`, `TopPLogitsWarper`),
applied to the rows that share a setting; a seeded row draws from its own
`torch.Generator`, so its seed alone decides its output whatever else is batched.

The repetition penalty applies to the tokens the row has generated, not to its prompt
(the docstring of `GenerationConfig.repetition_penalty` says so): penalising the
prompt would push a model away from the very keys and tool names a JSON reply has to
repeat from its instructions.
"""

from __future__ import annotations

from typing import Any

from phalanx.models.grammar import GrammarCompiler, apply_masks
from phalanx.models.row_state import RowState


def _penalise(scores: Any, rows: list[RowState]) -> None:
    import torch

    for i, row in enumerate(rows):
        cfg = row.config
        if cfg.repetition_penalty != 1.0 and row.generated:
            ids = torch.tensor(sorted(set(row.generated)), device=scores.device)
            picked = scores[i].index_select(0, ids)
            picked = torch.where(picked < 0, picked * cfg.repetition_penalty, picked / cfg.repetition_penalty)
            scores[i].index_copy_(0, ids, picked)
        n = cfg.no_repeat_ngram_size
        if n > 0 and len(row.generated) >= n:
            prefix = tuple(row.generated[len(row.generated) - n + 1 :]) if n > 1 else ()
            banned = [
                row.generated[j + n - 1]
                for j in range(len(row.generated) - n + 1)
                if tuple(row.generated[j : j + n - 1]) == prefix
            ]
            if banned:
                scores[i, banned] = float("-inf")


def _warpers(cfg: Any) -> list[Any]:
    from transformers import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

    out: list[Any] = []
    if cfg.temperature > 0 and cfg.temperature != 1.0:
        out.append(TemperatureLogitsWarper(cfg.temperature))
    if cfg.top_k > 0:
        out.append(TopKLogitsWarper(cfg.top_k))
    if cfg.top_p < 1.0:
        out.append(TopPLogitsWarper(cfg.top_p))
    return out


def next_tokens(
    logits: Any, rows: list[RowState], compiler: GrammarCompiler | None, generators: dict[int, Any]
) -> list[int]:
    """Pick one token per row from `logits` `(rows, vocab)`.

    Args:
        logits: the last position's logits of every row, in `rows` order.
        rows: the running rows.
        compiler: grammar compiler of the model (None when no row is constrained).
        generators: per-row `torch.Generator` of seeded rows, keyed by request uid.
    """
    import torch

    scores = logits.float()
    _penalise(scores, rows)
    constrained = [(i, r.grammar) for i, r in enumerate(rows) if r.grammar is not None]
    if constrained and compiler is not None:
        apply_masks(scores, constrained, compiler)
    picked = scores.argmax(dim=-1)
    sampled: dict[tuple[Any, ...], list[int]] = {}
    for i, row in enumerate(rows):
        cfg = row.config
        if cfg.sampling:
            sampled.setdefault((cfg.temperature, cfg.top_k, cfg.top_p), []).append(i)
    for members in sampled.values():
        index = torch.tensor(members, device=scores.device)
        sub = scores.index_select(0, index)
        for warper in _warpers(rows[members[0]].config):
            sub = warper(None, sub)
        probs = torch.softmax(sub, dim=-1)
        for j, i in enumerate(members):
            gen = generators.get(rows[i].request.uid)
            picked[i] = torch.multinomial(probs[j], 1, generator=gen)[0]
    return [int(t) for t in picked.tolist()]
