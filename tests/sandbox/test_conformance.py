"""Conformance suite for the `Sandbox` seam: every backend (docker, local) must pass it unchanged."""

from __future__ import annotations

import asyncio

import pytest

from phalanx.sandbox import ExecRequest, Limits, Sandbox, run_python

LIM = Limits(timeout_s=5, memory_mb=256, max_processes=32, max_output_bytes=10_000)


@pytest.fixture(scope="module", params=[pytest.param("docker", marks=pytest.mark.requires_docker), "local"])
def sandbox(request) -> Sandbox:
    return request.getfixturevalue(f"{request.param}_sandbox")


async def test_is_a_sandbox(sandbox):
    assert isinstance(sandbox, Sandbox)


async def test_stdout_stdin_and_exit_code(sandbox):
    r = await run_python(
        sandbox, "import sys\nprint(sys.stdin.read().upper())\nsys.exit(3)", stdin="héllo", limits=LIM
    )
    assert r.stdout == "HÉLLO\n" and r.exit_code == 3 and not r.ok and not r.limit_hit


async def test_exception_reports_traceback_of_the_program(sandbox):
    r = await run_python(sandbox, "def f():\n    raise ValueError('boom')\nf()\n", limits=LIM)
    assert r.exit_code == 1
    assert 'File "<code>", line 2, in f' in r.stderr and "ValueError: boom" in r.stderr
    assert "runner" not in r.stderr


async def test_syntax_error(sandbox):
    r = await run_python(sandbox, "def (:\n", limits=LIM)
    assert r.exit_code == 1 and "SyntaxError" in r.stderr


async def test_files_in_and_collected_out(sandbox):
    r = await run_python(
        sandbox,
        "import os, helper\nos.makedirs('out')\nopen('out/result.txt', 'w').write(helper.VALUE * 2)",
        files={"helper.py": "VALUE = 'ab'\n", "data/in.txt": "x"},
        collect=["out/result.txt", "missing.txt"],
        limits=LIM,
    )
    assert r.ok, r.stderr
    assert r.files == {"out/result.txt": "abab"}


async def test_env_and_command(sandbox):
    r = await sandbox.execute(
        ExecRequest(
            command=["sh", "-c", 'echo "$GREETING"; cat in.txt'],
            env={"GREETING": "hi"},
            files={"in.txt": "f"},
            limits=LIM,
        )
    )
    assert r.ok and r.stdout == "hi\nf"
    r = await sandbox.execute(ExecRequest(command=["definitely-not-a-program"], limits=LIM))
    assert r.exit_code == 127 and "cannot run" in r.stderr


async def test_timeout(sandbox):
    r = await run_python(
        sandbox, "import time\ntime.sleep(10)", limits=LIM.model_copy(update={"timeout_s": 0.5})
    )
    assert r.timed_out and r.limit_hit and r.exit_code is None and r.wall_s >= 0.4


async def test_cpu_limit(sandbox):
    lim = Limits(timeout_s=10, cpu_s=1, memory_mb=256, max_processes=32)
    r = await run_python(sandbox, "while True:\n    pass\n", limits=lim)
    # Stopped by the CPU limit (1 s), well before the wall-clock limit (10 s).
    assert r.timed_out and r.wall_s < 10 and r.cpu_s >= 0.9


async def test_output_cap(sandbox):
    r = await run_python(sandbox, "print('y' * 50_000)", limits=LIM)
    assert r.stdout_truncated and len(r.stdout) == LIM.max_output_bytes and "output" in r.limits_hit


async def test_memory_limit(sandbox):
    r = await run_python(sandbox, "x = bytearray(600 * 2**20)", limits=LIM)
    assert r.memory_exceeded and r.limit_hit


async def test_file_size_limit_reported_even_when_the_program_catches_it(sandbox):
    code = (
        "try:\n"
        "    open('big', 'wb').write(b'x' * (3 << 20))\n"
        "except OSError as exc:\n"
        "    print(exc.strerror)\n"
    )
    r = await run_python(sandbox, code, limits=LIM.model_copy(update={"max_file_size_mb": 1}))
    assert r.exit_code == 0 and r.stdout == "File too large\n"
    assert r.limits_hit == ["file_size"] and r.limit_hit


async def test_killed_by_signal(sandbox):
    r = await run_python(sandbox, "import os, signal\nos.kill(os.getpid(), signal.SIGTERM)", limits=LIM)
    assert r.signal == 15 and r.exit_code is None and not r.memory_exceeded


async def test_coverage_lines(sandbox):
    code = "def f(x):\n    if x:\n        return 1\n    return 2\n\nf(True)\n"
    r = await run_python(sandbox, code, coverage=True, limits=LIM)
    assert r.ok
    assert r.coverage == {"<code>": [1, 2, 3, 6]}
    r = await run_python(sandbox, code, limits=LIM)
    assert r.coverage is None


async def test_coverage_of_work_dir_modules(sandbox):
    r = await run_python(
        sandbox,
        "import mod\nmod.g()\n",
        files={"mod.py": "def g():\n    return 1\n"},
        coverage=True,
        limits=LIM,
    )
    assert r.coverage == {"<code>": [1, 2], "mod.py": [1, 2]}


async def test_no_state_between_runs(sandbox):
    r1 = await run_python(
        sandbox,
        "import os\nopen('keep', 'w').write('1')\nos.environ['X'] = '1'\nprint(os.listdir('.'))",
        limits=LIM,
    )
    r2 = await run_python(sandbox, "import os\nprint(os.listdir('.'), os.environ.get('X'))", limits=LIM)
    assert r1.stdout == "['keep']\n" and r2.stdout == "[] None\n"


async def test_concurrent_executions(sandbox):
    results = await asyncio.gather(*(run_python(sandbox, f"print({i} * {i})", limits=LIM) for i in range(6)))
    assert [r.stdout for r in results] == [f"{i * i}\n" for i in range(6)]


async def test_exec_request_validation():
    with pytest.raises(ValueError, match="exactly one"):
        ExecRequest()
    with pytest.raises(ValueError, match="relative"):
        ExecRequest(code="1", files={"../x": ""})
    with pytest.raises(ValueError):
        Limits(timeout_s=0)
    with pytest.raises(ValueError):
        Limits(memory_mb=1)
