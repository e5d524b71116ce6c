"""A real (tiny, random) `hf:` model through the pipeline, model failures, and parsing properties."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phalanx.agents.selfevolve import (
    EvolveSettings,
    Mode,
    evaluate_models,
    evolve_dataset,
    load_embedded,
    parse_modes,
    read_evolved,
)
from phalanx.agents.selfevolve.outputs import extract_json_object
from phalanx.models import ModelUnavailable, load_model


async def test_tiny_hf_model_garbage_is_recorded_not_crashed(tmp_path: Path, tiny_model_dir: Path) -> None:
    model = load_model(f"hf:{tiny_model_dir}?device=cpu")
    settings = EvolveSettings(max_reasks=1, max_new_tokens=8)
    data = load_embedded("arithmetic", n=3)
    summary = await evolve_dataset(
        data, [Mode.PARAPHRASE], model, model, tmp_path, concurrency=3, settings=settings
    )
    records = read_evolved(tmp_path)
    assert summary.written == len(records) == 3
    # a random model cannot answer, so the pre-filter rejects every original
    assert {r.cause for r in records} == {"Problem error: Original question failed"}
    result = await evaluate_models([model], tmp_path, max_new_tokens=8)
    assert result.scores[0].mode == "original" and result.scores[0].n == 3


async def test_model_failure_is_reported_and_rerun_finishes(
    tmp_path: Path, generator, verifier, make_model
) -> None:
    def down(messages):
        raise ModelUnavailable("server down; start it and re-run")

    data = load_embedded("kinship", n=3)
    broken = await evolve_dataset(data, [Mode.NOISE], generator, make_model(down, "down"), tmp_path)
    assert len(broken.errors) == 3 and "server down" in broken.errors[0]
    fixed = await evolve_dataset(data, [Mode.NOISE], generator, verifier, tmp_path)
    assert fixed.errors == [] and fixed.written == 3
    assert all(r.status == "pass" for r in read_evolved(tmp_path))


@given(st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=20) | st.integers(), max_size=4),
       st.text(max_size=30).filter(lambda t: "{" not in t), st.booleans())  # fmt: skip
def test_extract_json_object_finds_the_object(obj: dict, prose: str, fenced: bool) -> None:
    body = json.dumps(obj)
    text = f"{prose}\n```json\n{body}\n```\n" if fenced else f"{prose} {body} {prose}"
    assert extract_json_object(text) == obj


def test_extract_json_object_rejects_prose() -> None:
    with pytest.raises(ValueError, match="no JSON object"):
        extract_json_object("I would rather not.")


@given(
    st.lists(
        st.sampled_from([m.value for m in Mode] + ["addnoise", "reversepolar", "Question-Alternating"]),
        min_size=1,
    )
)
def test_parse_modes_accepts_names_and_aliases(names: list[str]) -> None:
    modes = parse_modes(",".join(names))
    assert len(modes) == len(set(modes)) and all(isinstance(m, Mode) for m in modes)
