"""kill -9 a process mid-run, resume in a new process: every node's side effect happens exactly once."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("killable_graph.py")
ALL_NODES = ["plan", *(f"work-{i}" for i in range(5)), "join", "report"]


def effects(work: Path) -> Counter[str]:
    log = work / "effects.log"
    return Counter(log.read_text().split()) if log.exists() else Counter()


def wait_for(predicate, what: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(
                f"graph process exited early ({proc.returncode}): {proc.stderr.read().decode()}"
            )
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("block_at", "done_before_kill"),
    [
        ("work-4", ["plan", "work-0", "work-1", "work-2", "work-3"]),  # killed mid fan-out
        ("join", ["plan", *(f"work-{i}" for i in range(5))]),  # killed in a later step
    ],
)
def test_kill_then_resume_runs_every_node_once(
    tmp_path: Path, block_at: str, done_before_kill: list[str]
) -> None:
    db = tmp_path / "runs.db"
    args = [sys.executable, str(SCRIPT)]
    tail = [str(db), str(tmp_path), "thread-1", block_at]
    proc = subprocess.Popen([*args, "run", *tail], stderr=subprocess.PIPE)
    try:
        wait_for(lambda: (tmp_path / "blocked").exists(), "the blocking node", proc)
        wait_for(lambda: set(effects(tmp_path)) >= set(done_before_kill), "finished siblings", proc)
        time.sleep(0.5)  # let the finished siblings' checkpoint writes land, as a real crash would allow
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert not (tmp_path / "result.json").exists()
    assert effects(tmp_path) == Counter(done_before_kill)

    (tmp_path / "gate").write_text("open")
    resumed = subprocess.run([*args, "resume", *tail], capture_output=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr.decode()

    assert effects(tmp_path) == Counter(ALL_NODES)  # each exactly once over both processes
    result = json.loads((tmp_path / "result.json").read_text())
    assert sorted(result["done"]) == sorted(ALL_NODES)
    assert result["total"] == 6
