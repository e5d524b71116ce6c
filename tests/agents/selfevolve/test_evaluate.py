"""Rule-based scoring, evaluation per model x mode, and the HTML report."""

from __future__ import annotations

from pathlib import Path

import pytest

from phalanx.agents.selfevolve import ALL_MODES, evaluate_models, evolve_dataset, load_embedded, write_report
from phalanx.agents.selfevolve.evaluate import build_items
from phalanx.agents.selfevolve.scoring import answer_kind, score_reply


@pytest.mark.parametrize(
    ("reply", "reference", "ok"),
    [
        ("So she has 1,204 apples.\nAnswer: 1204", "1204", True),
        ("Answer: 12.00", "12", True),
        ("Answer: 13", "12", False),
        ("I think... Answer: Yes, it is.", "yes", True),
        ("Answer: no", "yes", False),
        ("Answer: B", "B", True),
        ("Answer: (A)", "B", False),
        ("Answer: The Mother-in-law.", "mother-in-law", True),
        ("Answer: mom", "mother", True),
        ("Answer: aunt", "uncle", False),
    ],
)
def test_score_reply(reply: str, reference: str, ok: bool) -> None:
    kind = "choice" if reference in ("A", "B") else None
    assert score_reply(reply, reference, kind) is ok


def test_answer_kind() -> None:
    assert [answer_kind(x) for x in ("42", "Yes", "B", "aunt")] == ["numeric", "yes_no", "choice", "text"]


async def test_evaluation_table_and_report(tmp_path: Path, generator, verifier) -> None:
    await evolve_dataset(load_embedded("kinship", n=6), list(ALL_MODES), generator, verifier, tmp_path)
    items = build_items(tmp_path)
    choices = [i for i in items if i.mode in ("planning", "knowledge", "retrieval")]
    assert {i.reference for i in choices} == {"A", "B"}  # the correct option's position varies
    assert all("A. " in i.prompt and "B. " in i.prompt for i in choices)

    result = await evaluate_models(["scripted:evolve-solver", "scripted:evolve-guesser"], tmp_path)
    assert result.modes[0] == "original" and len(result.modes) == 9
    solver = {s.mode: s for s in result.scores if s.model == "scripted:evolve-solver"}
    assert all(s.accuracy == 1.0 and s.n == 6 for s in solver.values())
    guesser = {s.mode: s for s in result.scores if s.model == "scripted:evolve-guesser"}
    assert guesser["original"].delta is None
    for mode, s in guesser.items():
        if mode != "original":
            assert s.delta == pytest.approx(s.accuracy - guesser["original"].accuracy, abs=1e-3)
    assert min(s.accuracy for s in guesser.values()) < 1.0

    report = write_report(result, tmp_path)
    html = report.read_text()
    assert "data:image/png;base64," in html and "scripted:evolve-guesser" in html and "retrieval" in html
    assert (tmp_path / "results.json").exists()


def test_the_score_table_is_one_row_per_mode_and_one_cell_per_model():
    from phalanx.agents.selfevolve import EvaluationResult, ModeScore

    scores = [
        ModeScore(model="a", mode="original", n=20, correct=16, accuracy=0.8),
        ModeScore(model="a", mode="noise", n=10, correct=5, accuracy=0.5, delta=-0.3),
        ModeScore(model="b", mode="original", n=20, correct=10, accuracy=0.5),
    ]
    result = EvaluationResult(data_dir="d", models=["a", "b"], modes=["original", "noise"], scores=scores)
    table = result.table()
    assert [mode for mode, _ in table] == ["original", "noise"]
    assert table[1][1][1] is None  # b has no score on noise
    assert [s.label() if s else "-" for s in table[1][1]] == ["50% (-30) n=10", "-"]
    assert table[0][1][0].label(1) == "80.0% n=20"  # the originals row has no change
