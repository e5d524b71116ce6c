"""R³ step 1: supervised warm-up on the demonstrations (teacher forcing on the gold responses).

The official pipeline trains PPO from an SFT checkpoint (methods.md Part A, R³ §1: actor,
reference and critic all start from it). Without it a base model rarely writes the
`#### n` answer line, every episode scores 0 and PPO has nothing to learn from. This is
a few steps of the causal-LM loss on `prompt + target + EOS` with the prompt's tokens
left out of the loss, enough for the format; a full SFT run belongs to a dedicated tool.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from phalanx.models.checkpoints.r3 import PromptFormat
from phalanx.models.trainers.r3_data import R3_FORMAT, Demonstration, Style, build_start_states


def sft_warmup(
    lm: Any,
    tokenizer: Any,
    demos: Sequence[Demonstration],
    *,
    steps: int = 20,
    batch_size: int = 8,
    learning_rate: float = 2e-5,
    prompt_format: PromptFormat = R3_FORMAT,
    style: Style = "cot",
    seed: int = 0,
    on_step: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Fine-tune `lm` in place on full demonstrations (k = 0); returns the loss of each step."""
    import torch

    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    rng = random.Random(seed)
    states = [build_start_states(d, prompt_format, style=style)[0] for d in demos]
    optimizer = torch.optim.AdamW([p for p in lm.parameters() if p.requires_grad], lr=learning_rate)
    losses: list[float] = []
    lm.train()
    for step in range(1, steps + 1):
        batch = rng.sample(states, min(batch_size, len(states)))
        rows, labels = [], []
        for s in batch:
            prompt = tokenizer(s.prompt, add_special_tokens=False)["input_ids"]
            target = tokenizer(s.target, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
            rows.append(prompt + target)
            labels.append([-100] * len(prompt) + target)
        width = max(len(r) for r in rows)
        ids = torch.tensor([r + [tokenizer.pad_token_id] * (width - len(r)) for r in rows], device=lm.device)
        lab = torch.tensor([x + [-100] * (width - len(x)) for x in labels], device=lm.device)
        mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], device=lm.device)
        loss = lm(input_ids=ids, attention_mask=mask, labels=lab).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(lm.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
        if on_step is not None:
            on_step(step, losses[-1])
    lm.eval()
    return losses
