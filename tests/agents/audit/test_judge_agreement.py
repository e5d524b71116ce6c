"""The rule judges against a careful human reading: the figures the report shows are re-measured here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from phalanx.agents.audit.agreement import JUDGE_AGREEMENT, LABELS, judge_agreement
from phalanx.policies import load_toolsword

SAMPLE = Path(__file__).parent / "data" / "judge_sample.jsonl"


@pytest.fixture(scope="module")
def sample():
    return [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def records(toolsword_dir):
    return {r.id: r for r in load_toolsword(toolsword_dir)}


def test_sample_is_labelled_and_covers_every_scenario_and_outcome(sample):
    assert len(sample) == JUDGE_AGREEMENT["batches"]["all"]["n"]
    assert {r["human"] for r in sample} == set(LABELS)
    assert {r["scenario"] for r in sample} == {"MQ", "JA", "NM", "RC", "HF", "EC", "confict"}
    assert all(r["human_note"] for r in sample)


def test_reported_agreement_is_what_the_sample_measures(sample, records):
    batches = JUDGE_AGREEMENT["batches"]
    for name, expected in batches.items():
        rows = sample if name == "all" else [r for r in sample if r["batch"] == name]
        measured = judge_agreement(rows, records)
        assert {k: measured[k] for k in ("n", "agree", "kappa")} == {
            k: expected[k] for k in ("n", "agree", "kappa")
        }, name
    headline = batches["held-out-2"]
    assert {k: JUDGE_AGREEMENT[k] for k in ("n", "agree", "kappa")} == {
        k: headline[k] for k in ("n", "agree", "kappa")
    }


def test_agreement_rejects_an_unlabelled_row(records):
    with pytest.raises(ValueError, match="human label"):
        judge_agreement([{"id": "MQ-000", "answer": "x", "stop_reason": "final_answer"}], records)
