"""Split prefill: mixed prompt lengths share one `generate` without a prefill padding mask.

Real tiny Llama + real tokenizer; the reference is a plain one-row `model.generate`.
"""

from __future__ import annotations

import pytest
import torch

from phalanx.models import GenerationConfig, hf_generate
from phalanx.models.hf import HFChatModel
from phalanx.models.hf_generate import GenerateStats, GenRequest, generate_batch, prefill_groups

NEW = 10


@pytest.fixture(scope="module")
def hf(varied_model_dir) -> HFChatModel:
    return HFChatModel.from_pretrained(varied_model_dir, device="cpu", engine=False)


def _ids(hf: HFChatModel, text: str) -> list[int]:
    return list(hf.tokenizer(text, add_special_tokens=False)["input_ids"])


def _alone(hf: HFChatModel, ids: list[int]) -> list[int]:
    """Greedy continuation of one unpadded row, cut at the first EOS (as the backend does)."""
    with torch.inference_mode():
        out = hf.model.generate(
            torch.tensor([ids]), max_new_tokens=NEW, do_sample=False, pad_token_id=0, eos_token_id=None
        )
    gen = out[0, len(ids) :].tolist()
    eos = hf.model.generation_config.eos_token_id
    eos_ids = set(eos if isinstance(eos, list) else [eos]) - {None}
    for i, tok in enumerate(gen):
        if tok in eos_ids:
            return gen[:i]
    return gen


def _prompts(hf: HFChatModel) -> list[list[int]]:
    """Four prompts of one length, a near-equal pair, a long one and a one-token one."""
    base = _ids(hf, "The needle is hidden in the haystack near the old barn. " * 3)
    vocab = hf.model.config.vocab_size
    same = [[(t + k * 7) % (vocab - 3) + 3 for t in base] for k in range(4)]  # equal length, other tokens
    near = [base[:-1], base + base[:1]]
    long = base * 6
    return [*same, near[0], long, [base[0]], near[1]]


def _requests(prompts: list[list[int]]) -> list[GenRequest]:
    return [GenRequest(p, GenerationConfig(max_new_tokens=NEW), uid=i) for i, p in enumerate(prompts)]


def test_mixed_lengths_match_one_by_one_in_one_generate(hf: HFChatModel) -> None:
    prompts = _prompts(hf)
    stats = GenerateStats()
    results = generate_batch(hf.model, hf.tokenizer, _requests(prompts), stats)

    expected = [_alone(hf, p) for p in prompts]
    assert len({tuple(e) for e in expected}) > len(prompts) // 2  # continuations really differ
    assert [r.token_ids for r in results] == expected
    assert [r.prompt_tokens for r in results] == [len(p) for p in prompts]
    assert stats.generate_calls == 1 and stats.padded_fallbacks == 0
    assert sum(stats.prefill_rows) == len(prompts)
    # Similar lengths share a pass; the long prompt and the one-token prompt do not pad the others.
    widths = sorted(len(p) for p in prompts)
    left_padded = sum(widths[-1] - n for n in widths)
    assert stats.pad_tokens < left_padded // 4
    assert 2 <= stats.prefill_calls < len(prompts)


def test_equal_lengths_prefill_as_one_unpadded_pass(hf: HFChatModel) -> None:
    prompts = _prompts(hf)[:4]
    assert len({len(p) for p in prompts}) == 1
    stats = GenerateStats()
    results = generate_batch(hf.model, hf.tokenizer, _requests(prompts), stats)
    assert stats.prefill_rows == [4] and stats.pad_tokens == 0 and stats.generate_calls == 1
    assert [r.token_ids for r in results] == [_alone(hf, p) for p in prompts]


def test_left_padded_fallback_still_matches(hf: HFChatModel, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cache that cannot be split (e.g. sliding-window layers) falls back to one padded generate."""
    monkeypatch.setattr(hf_generate, "_layer_kv", lambda cache: None)
    prompts = _prompts(hf)
    stats = GenerateStats()
    results = generate_batch(hf.model, hf.tokenizer, _requests(prompts), stats)
    assert stats.padded_fallbacks == 1 and stats.prefill_rows == []
    assert [r.token_ids for r in results] == [_alone(hf, p) for p in prompts]


async def test_chat_model_counts_generates(varied_model_dir) -> None:
    import asyncio

    from phalanx.models import Message

    model = HFChatModel.from_pretrained(varied_model_dir, window_s=0.05, engine=False)
    texts = ["a b c d", "a b c e", "The fox jumps over the lazy dog again and again."]
    await asyncio.gather(
        *(model.chat([Message.user(t)], config=GenerationConfig(max_new_tokens=4)) for t in texts)
    )
    assert model.generate_stats.generate_calls == model.batcher.stats.batches == 1
    assert sum(model.generate_stats.prefill_rows) == 3
    await model.aclose()


def test_prefill_groups_bound_slack_and_size() -> None:
    lengths = [1, 5, 10, 30, 31, 33, 400, 410, 4000, 4001, 4002, 4003, 4004]
    groups = prefill_groups(lengths)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    for g in groups:
        first, last = lengths[g[0]], lengths[g[-1]]
        assert last - first <= hf_generate.PREFILL_SLACK + first // 16
        assert len(g) == 1 or len(g) * last <= hf_generate.PREFILL_TOKENS
    assert [lengths[i] for i in groups[-2] + groups[-1]] == [4000, 4001, 4002, 4003, 4004]
    assert len(groups[-1]) + len(groups[-2]) == 5 and len(groups[-2]) == 4  # 16384-token cap
    assert prefill_groups([]) == []
