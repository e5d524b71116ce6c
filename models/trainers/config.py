"""PPO settings (no torch import: configs are built and validated before a model is loaded)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PPOConfig(BaseModel):
    """PPO settings; defaults are the official R³ GSM8K script's except where noted."""

    model_config = ConfigDict(extra="forbid")

    learning_rate: float = Field(3e-7, gt=0)
    """Adam learning rate (R³: 3e-7 for 7B models; small models need more, e.g. 1e-5)."""
    batch_size: int = Field(4, ge=1)
    """Episodes per rollout (R³: 4)."""
    mini_batch_size: int = Field(4, ge=1)
    """Episodes per optimizer step inside an update (R³: 4)."""
    ppo_epochs: int = Field(2, ge=1)
    """Passes over each rollout (R³: 2)."""
    gamma: float = Field(1.0, ge=0, le=1)
    """Discount (R³ script: 1.0)."""
    lam: float = Field(0.95, ge=0, le=1)
    """GAE lambda (R³: 0.95)."""
    clip_range: float = Field(0.2, gt=0)
    """Policy ratio clip (R³: 0.2)."""
    clip_range_value: float = Field(0.2, gt=0)
    """Value prediction clip around the rollout's values (R³: 0.2)."""
    vf_coef: float = Field(5.0, ge=0)
    """Weight of the value loss (R³: 5)."""
    kl_coef: float = Field(0.05, ge=0)
    """Per-token KL penalty to the reference policy (R³: 0.05; 0 turns the reference model off)."""
    max_new_tokens: int = Field(128, ge=1)
    """Longest sampled response."""
    temperature: float = Field(1.0, gt=0)
    """Sampling temperature (R³ math: 1.0; R³ others: 0.7)."""
    max_grad_norm: float | None = Field(1.0, gt=0)
    """Gradient-norm clip (R³: 1); None: no clipping."""
    whiten_advantages: bool = True
    """Normalise advantages over the rollout's response tokens (R³: on)."""
    seed: int = 0
    """Seed for sampling and mini-batch order."""


class TrainerStep(BaseModel):
    """What every PPO trainer records per update (R³ and StepCoder add their own figures)."""

    step: int
    stage: int
    """Curriculum stage the update's episodes came from."""
    pg_loss: float
    vf_loss: float
    kl: float
    seconds: float
    advanced: bool = False
    """This update moved the curriculum to its next stage."""
