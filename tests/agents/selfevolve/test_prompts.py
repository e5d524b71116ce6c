"""Versioned prompt templates: task-specific variants and user overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from phalanx.agents.selfevolve import PromptLibrary

VALUES = dict(task_description="T", operation="context noising", instance_json="{}")


def test_packaged_templates_and_task_variant() -> None:
    lib = PromptLibrary()
    assert lib.version == "v2"
    assert "facts about people's relationships" in lib.render("kinship", "noise", **VALUES)
    assert "within the critical sentences" in lib.render("arithmetic", "noise", **VALUES)
    for name in ("paraphrase", "polarity", "alternative", "complex", "planning", "knowledge", "retrieval",
                 "verifier", "option", "prefilter"):  # fmt: skip
        assert "Operation: context noising" in lib.render("generic", name, **VALUES)


def test_override_per_task_changes_version(tmp_path: Path) -> None:
    (tmp_path / "kinship").mkdir()
    (tmp_path / "kinship" / "noise.j2").write_text("custom kinship noise {{ operation }}")
    (tmp_path / "verifier.j2").write_text("custom verifier")
    lib = PromptLibrary(tmp_path)
    assert lib.version.startswith("v2+custom:")
    assert lib.render("kinship", "noise", **VALUES) == "custom kinship noise context noising"
    assert "within the critical sentences" in lib.render("arithmetic", "noise", **VALUES)
    assert lib.render("arithmetic", "verifier", **VALUES) == "custom verifier"


def test_bad_prompt_dir_and_version(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a folder"):
        PromptLibrary(tmp_path / "missing")
    with pytest.raises(ValueError, match="available"):
        PromptLibrary(version="v9")


def test_official_clauses_and_demonstrations() -> None:
    lib = PromptLibrary()
    # the clauses of the official prompt_hub.py that v1 had dropped
    assert "without summarizing or explaining" in lib.render("kinship", "paraphrase", **VALUES)
    noise = lib.render("arithmetic", "noise", **VALUES)
    assert "within the critical sentences" in noise and "challenges the respondent's focus" in noise
    assert "rest of the original context remains unchanged" in lib.render("arithmetic", "polarity", **VALUES)
    # the official demonstrations, per task and mode, in the JSON reply format
    paraphrase = lib.render("kinship", "paraphrase", **VALUES)
    assert "[Marian], [Craig]'s mother, took him to his soccer match." in paraphrase
    assert '"new_context":' in paraphrase.split("Example 1, reply:")[1]
    planning_verifier = lib.render("arithmetic", "verifier", **VALUES, mode="planning")
    assert (
        "What is the second reasoning step" in planning_verifier and '"judgement": "no"' in planning_verifier
    )
    rewrite_verifier = lib.render(
        "arithmetic", "verifier", **VALUES, mode="noise"
    )  # the official 'origin' demos
    assert "make a special omelette" in rewrite_verifier and '"judgement": "yes"' in rewrite_verifier
    assert "Example" not in lib.render("generic", "paraphrase", **VALUES)  # no official dataset: no demos
