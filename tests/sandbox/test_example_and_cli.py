"""The sandbox example and the `phalanx sandbox` commands, run as a user would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PHALANX = [sys.executable, "-m", "phalanx.cli"]


def run(args: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=180, cwd=ROOT, **kw)


@pytest.mark.parametrize("backend", [pytest.param("docker", marks=pytest.mark.requires_docker), "local"])
def test_example_runs(backend):
    out = run([sys.executable, "examples/sandbox_run.py", "--sandbox", backend])
    assert out.returncode == 0, out.stderr
    assert "stdout: 4.0 | files: {'report.txt': 'n=3'} | exit: 0" in out.stdout
    assert "'stats.py': [1, 2]" in out.stdout
    assert "timed_out: True" in out.stdout and "command: 42" in out.stdout
    assert "concurrent: [0, 1, 4, 9]" in out.stdout


@pytest.mark.requires_docker
def test_cli_run_prints_two():
    out = run([*PHALANX, "sandbox", "run", "--code", "print(1+1)"])
    assert out.returncode == 0, out.stderr
    assert out.stdout == "2\n"


@pytest.mark.requires_docker
def test_cli_run_file_stdin_exit_status_and_json(tmp_path):
    prog = tmp_path / "prog.py"
    prog.write_text("import sys\nprint(sys.stdin.read()[::-1])\nsys.exit(4)\n")
    out = run([*PHALANX, "sandbox", "run", "--file", str(prog), "--stdin", "abc"])
    assert out.returncode == 4 and out.stdout == "cba\n"
    out = run([*PHALANX, "sandbox", "run", "-c", "while True: pass", "--timeout", "0.5", "--json"])
    result = json.loads(out.stdout)
    assert result["timed_out"] and out.returncode == 137


def test_cli_run_local_warns_and_bad_limits_are_clear():
    out = run([*PHALANX, "sandbox", "run", "--sandbox", "local", "-c", "print(6*7)"])
    assert out.returncode == 0 and out.stdout == "42\n" and "NOT isolation" in out.stderr
    out = run([*PHALANX, "sandbox", "run", "--sandbox", "local", "-c", "1", "--timeout", "-1"])
    assert out.returncode == 2 and "bad limits: timeout_s" in out.stderr
    out = run([*PHALANX, "sandbox", "run"])
    assert out.returncode == 2 and "exactly one of --code or --file" in out.stderr


@pytest.mark.requires_docker
def test_cli_unknown_image_and_daemon_down(tmp_path):
    out = run([*PHALANX, "sandbox", "run", "-c", "1", "--image", "phalanx-nope:0"])
    assert out.returncode == 2 and "unknown sandbox image" in out.stderr
    env = {**__import__("os").environ, "DOCKER_HOST": f"unix://{tmp_path}/none.sock"}
    out = run([*PHALANX, "sandbox", "doctor"], env=env)
    assert out.returncode == 1 and "no Docker daemon answers" in out.stdout and "dockerd" in out.stdout


@pytest.mark.requires_docker
def test_cli_build_image_is_a_noop_when_current_and_doctor_passes():
    out = run([*PHALANX, "sandbox", "build-image", "--all", "--json"])
    assert out.returncode == 0, out.stderr
    tags = json.loads(out.stdout)
    assert set(tags) == {"default", "scientific"} and all(
        t.startswith("phalanx-sandbox:") for t in tags.values()
    )
    out = run([*PHALANX, "sandbox", "doctor", "--json"])
    checks = {c["name"]: c for c in json.loads(out.stdout)}
    assert out.returncode == 0, out.stdout
    assert checks["run"]["status"] == "ok" and checks["image default"]["status"] == "ok"


@pytest.mark.requires_docker
def test_cli_gc_dry_run():
    out = run([*PHALANX, "sandbox", "gc", "--dry-run", "--json"])
    assert out.returncode == 0 and isinstance(json.loads(out.stdout)["would_remove"], list)
