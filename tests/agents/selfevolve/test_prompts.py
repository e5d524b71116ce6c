"""Versioned prompt templates: task-specific variants and user overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from phalanx.agents.selfevolve import PromptLibrary

VALUES = dict(task_description="T", operation="context noising", instance_json="{}")


def test_packaged_templates_and_task_variant() -> None:
    lib = PromptLibrary()
    assert lib.version == "v1"
    assert "extra characters and relationships" in lib.render("kinship", "noise", **VALUES)
    assert "irrelevant to the question" in lib.render("arithmetic", "noise", **VALUES)
    for name in ("paraphrase", "polarity", "alternative", "complex", "planning", "knowledge", "retrieval",
                 "verifier", "option", "prefilter"):  # fmt: skip
        assert "Operation: context noising" in lib.render("generic", name, **VALUES)


def test_override_per_task_changes_version(tmp_path: Path) -> None:
    (tmp_path / "kinship").mkdir()
    (tmp_path / "kinship" / "noise.j2").write_text("custom kinship noise {{ operation }}")
    (tmp_path / "verifier.j2").write_text("custom verifier")
    lib = PromptLibrary(tmp_path)
    assert lib.version.startswith("v1+custom:")
    assert lib.render("kinship", "noise", **VALUES) == "custom kinship noise context noising"
    assert "irrelevant to the question" in lib.render("arithmetic", "noise", **VALUES)
    assert lib.render("arithmetic", "verifier", **VALUES) == "custom verifier"


def test_bad_prompt_dir_and_version(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a folder"):
        PromptLibrary(tmp_path / "missing")
    with pytest.raises(ValueError, match="available"):
        PromptLibrary(version="v9")
