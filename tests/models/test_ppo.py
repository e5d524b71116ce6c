"""The compact PPO: GAE, rewards on the last token, masked policy loss, and updates on a tiny model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from phalanx.models.trainers.policy import load_trainable
from phalanx.models.trainers.ppo import (
    PPOConfig,
    PPOLoop,
    Rollout,
    gae,
    masked_whiten,
    policy_loss,
    token_rewards,
    value_loss,
)


def test_gae_matches_a_hand_computation() -> None:
    rewards = torch.tensor([[0.0, 0.0, 1.0, 0.0]])
    values = torch.tensor([[0.5, 0.2, 0.4, 9.0]])  # the 4th token is past the end: masked out
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    gamma, lam = 0.9, 0.5
    d2 = 1.0 - 0.4
    d1 = 0.0 + gamma * 0.4 - 0.2
    d0 = 0.0 + gamma * 0.2 - 0.5
    a2 = d2
    a1 = d1 + gamma * lam * a2
    a0 = d0 + gamma * lam * a1
    adv, ret = gae(rewards, values, mask, gamma, lam)
    assert torch.allclose(adv, torch.tensor([[a0, a1, a2, 0.0]]))
    assert torch.allclose(ret, torch.tensor([[a0 + 0.5, a1 + 0.2, a2 + 0.4, 0.0]]))


def test_score_sits_on_the_last_response_token_with_kl_on_every_token() -> None:
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    ro = Rollout(torch.zeros(2, 5, dtype=torch.long), torch.ones(2, 5), 2, mask, [], [])
    ro.old_logprobs = torch.tensor([[-1.0, -1.0, -1.0], [-2.0, -2.0, -2.0]])
    ro.ref_logprobs = torch.tensor([[-1.5, -1.0, -0.5], [-1.0, -1.0, -1.0]])
    rew = token_rewards(torch.tensor([1.0, 0.2]), ro, kl_coef=0.1)
    assert torch.allclose(rew, torch.tensor([[-0.05, 0.0, 1.0 + 0.05], [0.2 + 0.1, 0.0, 0.0]]))


def test_masked_whiten_ignores_padding() -> None:
    x = torch.tensor([[1.0, 3.0, 100.0]])
    m = torch.tensor([[1.0, 1.0, 0.0]])
    w = masked_whiten(x, m)
    assert torch.allclose(w, torch.tensor([[-1.0, 1.0, 0.0]]), atol=1e-4)


def test_fgo_masked_tokens_get_exactly_zero_policy_gradient() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 11, requires_grad=True)
    actions = torch.randint(0, 11, (2, 4))
    logp = torch.log_softmax(logits, -1).gather(-1, actions.unsqueeze(-1)).squeeze(-1)
    old = logp.detach() + 0.05 * torch.randn(2, 4)
    advantages = torch.randn(2, 4)
    response = torch.ones(2, 4)
    fgo = torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 1.0, 1.0]])
    policy_loss(logp, old, advantages, response, fgo, clip_range=10.0).backward()
    grad = logits.grad.abs().sum(-1)
    assert torch.all(grad[fgo == 0] == 0)  # exactly zero, not merely small
    assert torch.all(grad[fgo == 1] > 0)
    # Without the mask the same tokens do get a gradient.
    logits.grad = None
    logp = torch.log_softmax(logits, -1).gather(-1, actions.unsqueeze(-1)).squeeze(-1)
    policy_loss(logp, old, advantages, response, None, clip_range=10.0).backward()
    assert torch.all(logits.grad.abs().sum(-1) > 0)


def test_value_loss_clips_around_old_values() -> None:
    values = torch.tensor([[2.0]], requires_grad=True)
    loss = value_loss(values, torch.tensor([[0.0]]), torch.tensor([[0.0]]), torch.ones(1, 1), 0.2)
    assert loss.item() == pytest.approx(0.5 * 4.0)  # max of unclipped (4.0) and clipped (0.04)


@pytest.fixture
def tiny_policy(tiny_model_dir: Path):
    return load_trainable(f"hf:{tiny_model_dir}")


def _lm_params(loop: PPOLoop) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in loop.lm.named_parameters()}


def test_update_with_an_all_zero_policy_mask_leaves_the_policy_unchanged(tiny_policy) -> None:
    lm, tok = tiny_policy
    cfg = PPOConfig(
        batch_size=2, mini_batch_size=2, max_new_tokens=6, learning_rate=1e-2, vf_coef=0.0, kl_coef=0.0
    )
    loop = PPOLoop(lm, tok, cfg)
    ro = loop.rollout(["0123", "The quick"])
    before = _lm_params(loop)
    stats = loop.update(ro, [1.0, -1.0], policy_mask=torch.zeros_like(ro.response_mask))
    assert stats.masked_fraction == 1.0
    assert all(torch.equal(before[k], v) for k, v in loop.lm.named_parameters())
    stats = loop.update(ro, [1.0, -1.0], policy_mask=torch.ones_like(ro.response_mask))
    assert any(not torch.equal(before[k], v) for k, v in loop.lm.named_parameters())
    assert stats.masked_fraction == 0.0 and torch.isfinite(torch.tensor(stats.pg_loss))


def test_rollout_records_response_mask_and_log_probabilities(tiny_policy) -> None:
    lm, tok = tiny_policy
    loop = PPOLoop(lm, tok, PPOConfig(batch_size=2, max_new_tokens=5, kl_coef=0.1))
    ro = loop.rollout(["0 1 2", "Alice is the mother of"])
    assert ro.response_mask.shape == ro.old_logprobs.shape == ro.ref_logprobs.shape == ro.values.shape
    for i, ids in enumerate(ro.response_ids):
        assert int(ro.response_mask[i].sum()) == len(ids) >= 1
        assert ro.input_ids[i, ro.prompt_len : ro.prompt_len + len(ids)].tolist() == ids
    # Before any update the policy is the reference: KL exactly 0; values start at 0 (zero head).
    assert torch.equal(ro.old_logprobs * ro.response_mask, ro.ref_logprobs * ro.response_mask)
    assert torch.all(ro.values == 0)
    assert torch.all(ro.old_logprobs <= 0)
