"""The checkpointed evolution graph: outputs, re-runs, duplicates, a torn last line."""

from __future__ import annotations

import json
from pathlib import Path

from phalanx.agents.selfevolve import ALL_MODES, Mode, evolve_dataset, load_embedded, read_evolved


async def test_writes_every_mode_with_inputs_and_manifest(tmp_path: Path, generator, verifier) -> None:
    data = load_embedded("kinship", n=3)
    summary = await evolve_dataset(data, list(ALL_MODES), generator, verifier, tmp_path, concurrency=4)
    records = read_evolved(tmp_path)
    assert summary.written == len(records) == 24
    assert {r.mode for r in records} == set(Mode)
    assert all(r.status == "pass" for r in records)
    assert len((tmp_path / "originals.jsonl").read_text().splitlines()) == 3
    manifest = json.loads((tmp_path / "run.json").read_text())
    assert manifest["generator"] == "test-generator" and manifest["prompt_version"] == "v2"
    assert (tmp_path / "checkpoints.sqlite").exists()


async def test_rerun_skips_done_pairs_and_adds_new_modes(tmp_path: Path, generator, verifier) -> None:
    data = load_embedded("arithmetic", n=4)
    await evolve_dataset(data, [Mode.PARAPHRASE], generator, verifier, tmp_path)
    calls = len(generator.calls)
    again = await evolve_dataset(data, [Mode.PARAPHRASE], generator, verifier, tmp_path)
    assert (again.written, again.skipped) == (0, 4)
    assert len(generator.calls) == calls  # nothing was asked again
    more = await evolve_dataset(data, [Mode.PARAPHRASE, Mode.NOISE], generator, verifier, tmp_path)
    assert (more.written, more.skipped) == (4, 4)
    keys = [r.key for r in read_evolved(tmp_path)]
    assert len(keys) == len(set(keys)) == 8


async def test_repeated_input_ids_are_evolved_once(tmp_path: Path, generator, verifier) -> None:
    data = load_embedded("kinship", n=2)
    summary = await evolve_dataset([*data, data[0]], [Mode.NOISE], generator, verifier, tmp_path)
    assert summary.instances == 2 and summary.written == 2


async def test_prefilter_failures_are_recorded_for_every_mode(tmp_path: Path, make_model, verifier) -> None:
    gen = make_model(lambda m: json.dumps({"answer": "zebra"}), "wrong")
    summary = await evolve_dataset(
        load_embedded("kinship", n=2), [Mode.NOISE, Mode.PLANNING], gen, verifier, tmp_path
    )
    assert summary.causes == {"Problem error: Original question failed": 4}
    assert all(r.status == "fail" for r in read_evolved(tmp_path))
    # what `phalanx evolve` prints: per mode of the run, pass / fail; then the causes
    assert summary.mode_counts() == [("noise", 0, 2), ("planning", 0, 2)]
    assert summary.top_causes() == [("Problem error: Original question failed", 4)]


async def test_torn_last_line_is_dropped_and_redone(tmp_path: Path, generator, verifier) -> None:
    data = load_embedded("kinship", n=2)
    await evolve_dataset(data, [Mode.NOISE], generator, verifier, tmp_path, checkpoint=False)
    path = tmp_path / "evolved.jsonl"
    lines = path.read_text().splitlines()
    path.write_text(lines[0] + "\n" + lines[1][:25])  # as if killed mid-write
    summary = await evolve_dataset(data, [Mode.NOISE], generator, verifier, tmp_path, checkpoint=False)
    assert summary.written == 1
    assert len(read_evolved(tmp_path)) == 2
