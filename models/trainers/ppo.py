"""A compact PPO for language models: policy + value head, GAE, clipped losses, KL to a reference.

Shared by the R³ trainer (`phalanx.models.trainers.r3`) and StepCoder's
(`phalanx.agents.stepcoder.train`). It follows the official R³ loop (`R3_math/main.py`,
methods.md Part A, R³ §3-4) step for step:

- rollout by sampling (`do_sample=True, top_k=0, top_p=1.0`);
- the outcome score sits on the last response token (the one that emits EOS), plus a
  per-token KL reward `-kl_coef * (logp_policy - logp_ref)`;
- GAE (`gamma`, `lam`), returns = advantages + values, advantages whitened over the batch;
- clipped policy loss and clipped value loss, each summed over a response and divided
  by its length, `loss = pg + vf_coef * vf`, gradient norm clipped.

Why not TRL: TRL 1.x (1.16 installs here) no longer ships `PPOTrainer` or
`AutoModelForCausalLMWithValueHead`; its GRPO trainer has no value head or GAE (R³ is
PPO with a critic) and its reward functions score whole completions, so StepCoder's
FGO (a per-token mask on the policy loss, computed from the sandbox's line coverage of
each sample) cannot be expressed. The official R³ code is itself an own loop over a
value-head model. `policy_mask` below is the one extension: it multiplies the per-token
policy loss (FGO), while the value loss keeps every response token.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from pydantic import BaseModel
from torch import nn

from phalanx.models.trainers.config import PPOConfig

__all__ = ["PPOConfig", "PPOLoop", "PolicyWithValueHead", "Rollout", "StepStats"]


class PolicyWithValueHead(nn.Module):
    """A causal LM with a scalar value head on its last hidden state.

    The LM is `pretrained_model` and the head `v_head`, TRL's names, so
    `save_r3_checkpoint` strips the head and saves the LM alone.
    """

    def __init__(self, lm: Any) -> None:
        super().__init__()
        self.pretrained_model = lm
        hidden = lm.config.hidden_size
        self.v_head = nn.Linear(hidden, 1)
        # A zero head starts every value at 0, so the first updates follow the rewards, not noise.
        nn.init.zeros_(self.v_head.weight)
        nn.init.zeros_(self.v_head.bias)
        self.v_head.to(device=lm.device, dtype=torch.float32)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`(logits [B, L, V], values [B, L])` for left-padded sequences."""
        positions = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        out = self.pretrained_model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=positions,
            output_hidden_states=True,
            use_cache=False,
        )
        values = self.v_head(out.hidden_states[-1].float()).squeeze(-1)
        return out.logits.float(), values


@dataclass
class Rollout:
    """Sampled episodes: left-padded prompts, right-padded responses, and the rollout-time statistics."""

    input_ids: torch.Tensor
    """[B, P + T]: prompt (left-padded to P) then response (T tokens, padded after EOS)."""
    attention_mask: torch.Tensor
    prompt_len: int
    """P: the padded prompt length; response token t sits at position P + t."""
    response_mask: torch.Tensor
    """[B, T] float: 1 for sampled tokens up to and including the first EOS."""
    response_ids: list[list[int]]
    """Each episode's response tokens (no padding)."""
    texts: list[str]
    """Each episode's response, decoded without special tokens."""
    old_logprobs: torch.Tensor | None = None
    ref_logprobs: torch.Tensor | None = None
    values: torch.Tensor | None = None


class StepStats(BaseModel):
    """What one PPO update did."""

    mean_score: float
    """Mean outcome score of the rollout's episodes."""
    pg_loss: float
    vf_loss: float
    kl: float
    """Mean per-episode KL to the reference (sum over tokens of logp - logp_ref)."""
    response_tokens: float
    """Mean response length in tokens."""
    masked_fraction: float = 0.0
    """Share of response tokens the policy mask left out of the policy loss (FGO)."""
    seconds: float

    def losses(self) -> dict[str, float]:
        """The update's losses, as the trainers' step records (`TrainerStep`) hold them."""
        return {"pg_loss": self.pg_loss, "vf_loss": self.vf_loss, "kl": self.kl}


def response_logprobs(
    model: PolicyWithValueHead | Any, rollout: Rollout, *, with_values: bool = True
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Log-probabilities of the response tokens [B, T] (and the values of the states before them)."""
    ids, mask, p = rollout.input_ids, rollout.attention_mask, rollout.prompt_len
    if isinstance(model, PolicyWithValueHead):
        logits, values = model(ids, mask)
    else:
        positions = (mask.long().cumsum(-1) - 1).clamp(min=0)
        logits = model(
            input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False
        ).logits.float()
        values = None
    # The token at position P + t is predicted from position P + t - 1.
    logits = logits[:, p - 1 : -1, :]
    logp = torch.log_softmax(logits, dim=-1).gather(-1, ids[:, p:].unsqueeze(-1)).squeeze(-1)
    vals = values[:, p - 1 : -1] if (values is not None and with_values) else None
    return logp, vals


def token_rewards(scores: torch.Tensor, rollout: Rollout, kl_coef: float) -> torch.Tensor:
    """Per-token rewards: the score on the last response token plus `-kl_coef * (logp - logp_ref)`."""
    mask = rollout.response_mask
    rewards = torch.zeros_like(mask)
    if rollout.ref_logprobs is not None and rollout.old_logprobs is not None and kl_coef > 0:
        rewards -= kl_coef * (rollout.old_logprobs - rollout.ref_logprobs) * mask
    last = (mask.sum(-1).long() - 1).clamp(min=0)
    rewards[torch.arange(mask.shape[0], device=mask.device), last] += scores.to(rewards.dtype)
    return rewards


def gae(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimates and returns over masked response tokens (values after the end are 0)."""
    values = values * mask
    advantages = torch.zeros_like(rewards)
    running = torch.zeros(rewards.shape[0], dtype=rewards.dtype, device=rewards.device)
    steps = rewards.shape[1]
    for t in reversed(range(steps)):
        next_value = values[:, t + 1] if t + 1 < steps else torch.zeros_like(running)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = delta + gamma * lam * running
        advantages[:, t] = running
    advantages = advantages * mask
    return advantages, (advantages + values) * mask


def masked_whiten(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """`(values - mean) / std` over the masked entries (left unchanged where the mask is 0)."""
    n = mask.sum().clamp(min=1)
    mean = (values * mask).sum() / n
    var = (((values - mean) ** 2) * mask).sum() / n
    return ((values - mean) * torch.rsqrt(var + 1e-8)) * mask


def policy_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    response_mask: torch.Tensor,
    policy_mask: torch.Tensor | None,
    clip_range: float,
) -> torch.Tensor:
    """The clipped PPO policy loss; each token's term is multiplied by `policy_mask` (FGO).

    Per episode the sum over tokens is divided by the number of response tokens (not of
    unmasked ones, so masking a token removes its term without re-weighting the rest).
    """
    ratio = torch.exp(logprobs - old_logprobs)
    losses = torch.max(-advantages * ratio, -advantages * ratio.clamp(1.0 - clip_range, 1.0 + clip_range))
    weight = response_mask if policy_mask is None else response_mask * policy_mask
    lengths = response_mask.sum(-1).clamp(min=1.0)
    return ((losses * weight).sum(-1) / lengths).mean()


def value_loss(
    values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    mask: torch.Tensor,
    clip_range: float,
) -> torch.Tensor:
    """The clipped value loss, summed per episode over response tokens and divided by its length."""
    clipped = torch.max(torch.min(values, old_values + clip_range), old_values - clip_range)
    losses = torch.max((values - returns) ** 2, (clipped - returns) ** 2)
    return 0.5 * ((losses * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()


class PPOLoop:
    """Rollouts and updates for one policy.

    Args:
        lm: a transformers causal LM (trained in place; float32 recommended on CPU).
        tokenizer: its tokenizer (a pad token is set to EOS if it has none).
        config: PPO settings.

    Use `rollout(prompts)` to sample, score the texts (and optionally build a per-token
    policy mask), then `update(rollout, scores, policy_mask)`; or `step(prompts, score_fn)`.
    """

    def __init__(self, lm: Any, tokenizer: Any, config: PPOConfig | None = None) -> None:
        self.config = config or PPOConfig()
        self.tokenizer = tokenizer
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.model = PolicyWithValueHead(lm)
        self.ref = None
        if self.config.kl_coef > 0:
            self.ref = copy.deepcopy(lm).eval()
            self.ref.requires_grad_(False)
        self.optimizer = torch.optim.Adam(
            [p for p in self.model.parameters() if p.requires_grad], lr=self.config.learning_rate
        )
        self.generator = torch.Generator().manual_seed(self.config.seed)

    @property
    def lm(self) -> Any:
        """The policy's language model (what a checkpoint saves)."""
        return self.model.pretrained_model

    @torch.no_grad()
    def rollout(self, prompts: Sequence[str]) -> Rollout:
        """Sample one response per prompt and record log-probabilities, reference log-probabilities and values."""
        cfg, tok, lm = self.config, self.tokenizer, self.lm
        lm.eval()
        side = tok.padding_side
        tok.padding_side = "left"
        try:
            enc = tok(list(prompts), return_tensors="pt", padding=True, add_special_tokens=False)
        finally:
            tok.padding_side = side
        enc = {k: v.to(lm.device) for k, v in enc.items()}
        torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=self.generator)))
        out = lm.generate(
            **enc,
            do_sample=True,
            top_k=0,
            top_p=1.0,
            temperature=cfg.temperature,
            max_new_tokens=cfg.max_new_tokens,
            pad_token_id=tok.pad_token_id,
            eos_token_id=tok.eos_token_id,
        )
        p = enc["input_ids"].shape[1]
        response = out[:, p:]
        mask = torch.zeros(response.shape, dtype=torch.float32, device=out.device)
        response_ids: list[list[int]] = []
        for i, row in enumerate(response.tolist()):
            end = row.index(tok.eos_token_id) + 1 if tok.eos_token_id in row else len(row)
            mask[i, :end] = 1.0
            response_ids.append(row[:end])
        attention = torch.cat([enc["attention_mask"].to(mask.dtype), mask], dim=1).long()
        texts = [tok.decode(ids, skip_special_tokens=True) for ids in response_ids]
        ro = Rollout(out, attention, p, mask, response_ids, texts)
        ro.old_logprobs, ro.values = response_logprobs(self.model, ro)
        if self.ref is not None:
            ro.ref_logprobs, _ = response_logprobs(self.ref, ro, with_values=False)
        return ro

    def update(
        self, rollout: Rollout, scores: Sequence[float], policy_mask: torch.Tensor | None = None
    ) -> StepStats:
        """One PPO update on a scored rollout.

        Args:
            rollout: from `rollout`.
            scores: one outcome score per episode.
            policy_mask: [B, T] per-token weights of the policy loss (FGO); None keeps all.
        """
        start = time.perf_counter()
        cfg = self.config
        assert rollout.old_logprobs is not None and rollout.values is not None
        mask = rollout.response_mask
        score_t = torch.tensor(list(scores), dtype=torch.float32, device=mask.device)
        with torch.no_grad():
            rewards = token_rewards(score_t, rollout, cfg.kl_coef)
            advantages, returns = gae(rewards, rollout.values, mask, cfg.gamma, cfg.lam)
            if cfg.whiten_advantages:
                advantages = masked_whiten(advantages, mask)
            kl = 0.0
            if rollout.ref_logprobs is not None:
                kl = float((((rollout.old_logprobs - rollout.ref_logprobs) * mask).sum(-1)).mean())
        if policy_mask is not None:
            policy_mask = policy_mask.to(device=mask.device, dtype=mask.dtype)
        batch = mask.shape[0]
        pg_total = vf_total = 0.0
        updates = 0
        self.model.eval()  # as the official loop: no dropout, so old and new log-probabilities agree
        for _ in range(cfg.ppo_epochs):
            order = torch.randperm(batch, generator=self.generator).to(mask.device)
            for lo in range(0, batch, cfg.mini_batch_size):
                idx = order[lo : lo + cfg.mini_batch_size]
                sub = Rollout(
                    rollout.input_ids[idx], rollout.attention_mask[idx], rollout.prompt_len, mask[idx], [], []
                )
                logp, vals = response_logprobs(self.model, sub)
                assert vals is not None
                pg = policy_loss(
                    logp,
                    rollout.old_logprobs[idx],
                    advantages[idx],
                    mask[idx],
                    None if policy_mask is None else policy_mask[idx],
                    cfg.clip_range,
                )
                vf = value_loss(vals, rollout.values[idx], returns[idx], mask[idx], cfg.clip_range_value)
                loss = pg + cfg.vf_coef * vf
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.max_grad_norm is not None:
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.max_grad_norm)
                self.optimizer.step()
                pg_total += pg.item()
                vf_total += vf.item()
                updates += 1
        masked = 0.0
        if policy_mask is not None:
            masked = float(((1 - policy_mask) * mask).sum() / mask.sum().clamp(min=1))
        return StepStats(
            mean_score=float(score_t.mean()),
            pg_loss=pg_total / updates,
            vf_loss=vf_total / updates,
            kl=kl,
            response_tokens=float(mask.sum(-1).mean()),
            masked_fraction=masked,
            seconds=time.perf_counter() - start,
        )

    def step(
        self, prompts: Sequence[str], score_fn: Callable[[list[str]], Sequence[float]]
    ) -> tuple[Rollout, list[float], StepStats]:
        """Rollout, score with `score_fn(texts)`, update; returns all three."""
        start = time.perf_counter()
        ro = self.rollout(prompts)
        scores = list(score_fn(ro.texts))
        stats = self.update(ro, scores)
        return ro, scores, stats.model_copy(update={"seconds": time.perf_counter() - start})
