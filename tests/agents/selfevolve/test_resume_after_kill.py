"""A run killed mid-way (SIGKILL) and re-run finishes every (instance, mode) exactly once."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from phalanx.agents.selfevolve import read_evolved

DRIVER = """
import asyncio, sys
from phalanx.agents.selfevolve import evolve_dataset, load_embedded, parse_modes
from phalanx.agents.selfevolve.scripted import generator_reply, verifier_reply
from phalanx.models.scripted import ScriptedModel

delay = float(sys.argv[2])

def slow(fn):
    async def reply(messages, tools):
        await asyncio.sleep(delay)
        return fn(messages, tools)
    return reply

gen = ScriptedModel(slow(generator_reply), name="gen")
ver = ScriptedModel(slow(verifier_reply), name="ver")
data = load_embedded("kinship", n=10)
summary = asyncio.run(evolve_dataset(data, parse_modes("paraphrase,noise,planning"), gen, ver, sys.argv[1], concurrency=2))
print(summary.model_dump_json())
"""


def test_resume_after_kill(tmp_path: Path) -> None:
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, str(script), str(out), "0.15"])
    evolved = out / "evolved.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if evolved.exists() and len(evolved.read_text().splitlines()) >= 5:
            break
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    before = len(read_evolved(out))
    assert 5 <= before < 30, "the run should have been killed part-way"

    done = subprocess.run(
        [sys.executable, str(script), str(out), "0"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    records = read_evolved(out)
    keys = [r.key for r in records]
    assert len(keys) == len(set(keys)) == 30
    assert all(r.status == "pass" for r in records)
    assert '"skipped":' + str(before) in done.stdout
