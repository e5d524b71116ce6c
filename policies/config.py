"""Policy files: which guards run, what each does when it flags, thresholds (YAML or pydantic).

`default` (shipped as `default_policy.yaml`) turns on every ToolSword guard with the
deterministic detectors; `strict` (`strict_policy.yaml`) adds the recall-first corpus index to
the harmful-feedback guard; `none` turns every guard off (the baseline of an audit).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from phalanx.policies.errors import PolicyConfigError
from phalanx.policies.types import GuardAction

BUILTIN_POLICIES = {
    "default": Path(__file__).with_name("default_policy.yaml"),
    "strict": Path(__file__).with_name("strict_policy.yaml"),
}


class GuardConfig(BaseModel):
    """Settings of one guard."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    """Run this guard at all."""
    action: GuardAction = GuardAction.BLOCK
    """What happens when it flags: allow (record only), block, redact, annotate or ask-human."""
    threshold: float | None = Field(None, ge=-1.0, le=1.0)
    """Cosine similarity to the nearest harmful prototype needed to flag (embedding detectors)."""
    margin: float | None = Field(None, ge=-1.0, le=1.0)
    """How much closer to a harmful than to a benign prototype a text must be to flag."""
    judge: str | None = None
    """Model spec of a model-judge variant (`openai:...`, `hf:...`); flags when rules OR judge flag."""
    options: dict[str, Any] = Field(default_factory=dict)
    """Guard-specific extras (documented on each guard class)."""


class PolicyConfig(BaseModel):
    """A whole policy: one `GuardConfig` per guard name, plus shared settings."""

    model_config = ConfigDict(extra="forbid")

    name: str = "custom"
    """Shown in audit summaries and reports."""
    fail_closed: bool = True
    """A guard that raises blocks (True) instead of being skipped (False)."""
    seeds: str | None = None
    """Path of a custom seed-prototype file (defaults to the shipped `seeds.yaml`)."""
    judge: str | None = None
    """Model spec used by every guard that sets `judge: default`."""
    guards: dict[str, GuardConfig] = Field(default_factory=dict)

    @field_validator("guards")
    @classmethod
    def _known_guards(cls, value: dict[str, GuardConfig]) -> dict[str, GuardConfig]:
        from phalanx.policies.guard import registered_guards

        known = registered_guards()
        unknown = sorted(set(value) - set(known))
        if unknown:
            raise ValueError(f"unknown guard(s) {unknown}; known guards: {sorted(known)}")
        return value

    @property
    def active(self) -> dict[str, GuardConfig]:
        """Enabled guards only."""
        return {k: v for k, v in self.guards.items() if v.enabled}


def load_policy(spec: str | Path | PolicyConfig | None) -> PolicyConfig:
    """Resolve `default`, `none`, a YAML/JSON file path, or a `PolicyConfig`.

    Raises:
        PolicyConfigError: unknown name, missing file, invalid YAML or fields (file and field named).
    """
    if isinstance(spec, PolicyConfig):
        return spec
    if spec is None or str(spec) == "none":
        return PolicyConfig(name="none", guards={})
    path = BUILTIN_POLICIES.get(str(spec), Path(spec))
    if not path.is_file():
        raise PolicyConfigError(
            f"policy {str(spec)!r} is neither a built-in policy ({', '.join(['none', *BUILTIN_POLICIES])}) "
            "nor an existing YAML file"
        )
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise PolicyConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise PolicyConfigError(f"{path}: a policy file must be a mapping with `guards:`")
    raw.setdefault("name", path.stem if str(spec) not in BUILTIN_POLICIES else str(spec))
    try:
        return PolicyConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise PolicyConfigError(f"{path}: invalid policy: {problems}") from exc
