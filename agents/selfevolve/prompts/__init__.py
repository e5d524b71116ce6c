"""Versioned prompt templates for the self-evolving agents, one per mode and role.

Layout: `prompts/<version>/<task>/<name>.j2` with `<task>` = `default` or a task family
(`kinship`, `boolean`, ...) whose file overrides the default for that task. Users override
any template by passing `prompt_dir`: a folder holding `<name>.j2` (all tasks) or
`<task>/<name>.j2`. The recorded prompt version then carries a hash of the overrides.

`v2` follows the official Self-Evolving Benchmark's prompts (prompt_hub.py) clause by clause and
shows its few-shot demonstrations (`official_demos(role, task, mode)` in a template; see
`phalanx.agents.selfevolve.official`); phalanx keeps its JSON reply format.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import jinja2

PROMPT_VERSION = "v2"
NAMES = ("paraphrase", "noise", "polarity", "alternative", "complex", "planning", "knowledge", "retrieval",
         "verifier", "option", "prefilter")  # fmt: skip


def official_demos(role: str, task: str, mode: str) -> str:
    """Template helper: the official demonstrations for (role, task, mode) as prompt text ('' if none)."""
    from phalanx.agents.selfevolve.official import render_demonstrations
    from phalanx.agents.selfevolve.types import Mode

    try:
        parsed = Mode(mode) if mode else Mode.PARAPHRASE  # no mode: a rewrite mode's (origin) demos
    except ValueError:
        return ""
    return render_demonstrations(role, task, parsed)


_HERE = Path(__file__).resolve().parent


class PromptLibrary:
    """Finds and renders the template for (task, name), honouring user overrides."""

    def __init__(self, prompt_dir: str | Path | None = None, version: str = PROMPT_VERSION) -> None:
        """Args:
        prompt_dir: optional folder of override templates (`<name>.j2` or `<task>/<name>.j2`).
        version: the packaged template set to use.
        """
        self.base = _HERE / version
        if not self.base.is_dir():
            raise ValueError(
                f"no packaged prompt version {version!r}; available: {self.available_versions()}"
            )
        self.override = Path(prompt_dir) if prompt_dir else None
        if self.override is not None and not self.override.is_dir():
            raise ValueError(f"prompt_dir {self.override} is not a folder of <name>.j2 templates")
        self.version = version
        if self.override is not None:
            digest = hashlib.sha256()
            for f in sorted(self.override.rglob("*.j2")):
                digest.update(str(f.relative_to(self.override)).encode() + f.read_bytes())
            self.version = f"{version}+custom:{digest.hexdigest()[:8]}"
        self._cache: dict[tuple[str, str], jinja2.Template] = {}
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader([str(p) for p in self._search_path()]),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=False,
            autoescape=False,
        )
        self._env.globals["official_demos"] = official_demos

    @staticmethod
    def available_versions() -> list[str]:
        return sorted(p.name for p in _HERE.iterdir() if p.is_dir() and not p.name.startswith("_"))

    def _search_path(self) -> list[Path]:
        paths = [self.override] if self.override else []
        return [*paths, self.base / "default"]

    def template_path(self, task: str, name: str) -> str:
        """The loader-relative name of the template used for (task, name)."""
        candidates = []
        if self.override is not None:
            candidates += [self.override / task / f"{name}.j2", self.override / f"{name}.j2"]
        candidates += [self.base / task / f"{name}.j2", self.base / "default" / f"{name}.j2"]
        for c in candidates:
            if c.is_file():
                return str(c)
        raise ValueError(f"no prompt template {name!r} for task {task!r} (looked in {self.base})")

    def render(self, task: str, name: str, **values: object) -> str:
        """Render the template for (task, name) with `values`."""
        key = (task, name)
        template = self._cache.get(key)
        if template is None:
            path = Path(self.template_path(task, name))
            template = self._cache[key] = self._env.from_string(path.read_text(encoding="utf-8"))
        return template.render(**{"task": task, "mode": "", **values}).strip()
