"""Attack suite: hostile programs against the real Docker sandbox.

After every attack the next execution must succeed and see nothing of the
previous one (files, /tmp, /dev/shm, processes). The module's pool is shared and
checked for leftovers when it closes (see conftest).
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time

import pytest

from phalanx.sandbox import ExecResult, Limits, run_python

pytestmark = pytest.mark.requires_docker

SMALL = Limits(timeout_s=3, memory_mb=256, max_processes=32, max_output_bytes=64_000, max_file_size_mb=8)

PROBE = """
import os
procs = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())
print(repr((sorted(os.listdir('.')), sorted(os.listdir('/tmp')), sorted(os.listdir('/dev/shm')), len(procs))))
"""


async def assert_next_run_is_clean(sb) -> None:
    """The next execution succeeds in an empty work dir, /tmp and /dev/shm, with no other program process."""
    r = await run_python(sb, PROBE, limits=SMALL)
    assert r.ok, r
    work, tmp, shm, nprocs = eval(r.stdout)
    assert (work, tmp, shm) == ([], [], [])
    assert nprocs == 2, f"expected only the runner and this program, saw {nprocs} processes"


async def attack(sb, code: str, **limits) -> ExecResult:
    lim = SMALL.model_copy(update=limits)
    start = time.monotonic()
    r = await run_python(sb, code, limits=lim)
    # Nothing may hang: every attack ends within its limit plus the runner's clean-up.
    assert time.monotonic() - start < lim.timeout_s + 30
    return r


async def test_fork_bomb(docker_sandbox):
    r = await attack(
        docker_sandbox,
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
        timeout_s=2,
    )
    assert r.limit_hit and r.timed_out
    await assert_next_run_is_clean(docker_sandbox)


async def test_memory_bomb(docker_sandbox):
    r = await attack(docker_sandbox, "x = []\nwhile True:\n    x.append(bytearray(10**7))\n")
    assert r.memory_exceeded and r.limit_hit
    assert "MemoryError" in r.stderr
    await assert_next_run_is_clean(docker_sandbox)


async def test_tmpfs_fill(docker_sandbox):
    code = (
        "i = 0\n"
        "while True:\n"
        "    with open(f'f{i}', 'wb') as fh:\n"
        "        fh.write(b'x' * (4 << 20))\n"
        "    i += 1\n"
    )
    r = await attack(docker_sandbox, code)
    assert r.exit_code == 1 and r.limit_hit
    assert "No space left on device" in r.stderr or "File too large" in r.stderr
    await assert_next_run_is_clean(docker_sandbox)


CAUGHT_FILL = """
import os
path = os.path.join({where!r}, 'big')
try:
    with open(path, 'wb') as fh:
        while True:
            fh.write(b'x' * 65536)
except OSError as exc:
    print('caught:', exc.strerror)
"""


@pytest.mark.parametrize("where", ["/dev/shm", "/tmp", "."])
async def test_file_size_limit_caught_by_the_program_is_still_reported(docker_sandbox, where):
    # Python ignores SIGXFSZ: the program sees EFBIG (or ENOSPC where the tmpfs is smaller than the
    # file limit), catches it and exits 0. The limit was hit all the same.
    r = await attack(docker_sandbox, CAUGHT_FILL.format(where=where), max_file_size_mb=2)
    assert r.exit_code == 0 and r.stdout.startswith("caught: File too large"), r
    assert r.limits_hit == ["file_size"] and r.limit_hit
    await assert_next_run_is_clean(docker_sandbox)


async def test_full_tmpfs_caught_by_the_program_is_still_reported(docker_sandbox):
    code = (
        "for i in range(100):\n"
        "    try:\n"
        "        open(f'/tmp/f{i}', 'wb').write(b'x' * (1 << 20))\n"
        "    except OSError as exc:\n"
        "        print('caught:', exc.strerror)\n"
        "        break\n"
    )
    r = await attack(docker_sandbox, code, max_file_size_mb=2)
    assert r.exit_code == 0 and r.stdout == "caught: No space left on device\n", r
    assert r.limits_hit == ["disk"] and r.limit_hit
    await assert_next_run_is_clean(docker_sandbox)


async def test_files_under_the_limits_hit_nothing(docker_sandbox):
    code = "for d in ('/tmp', '/dev/shm', '.'):\n    open(f'{d}/f', 'wb').write(b'x' * ((2 << 20) - 1))\n"
    r = await attack(docker_sandbox, code, max_file_size_mb=2)
    assert r.ok and r.limits_hit == []


async def test_stdout_flood_one_gigabyte(docker_sandbox):
    code = "import sys\nchunk = 'x' * (1 << 20)\nfor _ in range(1024):\n    sys.stdout.write(chunk)\n"
    r = await attack(docker_sandbox, code, timeout_s=10)
    assert r.stdout_truncated and r.limit_hit and "output" in r.limits_hit
    assert len(r.stdout) <= SMALL.max_output_bytes
    assert not r.timed_out, "a flood must be cut at the cap, not drained until the time limit"
    await assert_next_run_is_clean(docker_sandbox)


async def test_infinite_loop(docker_sandbox):
    r = await attack(docker_sandbox, "while True:\n    pass\n", timeout_s=1)
    assert r.timed_out and r.exit_code is None
    assert r.wall_s >= 0.9
    await assert_next_run_is_clean(docker_sandbox)


async def test_busy_threads(docker_sandbox):
    code = "import threading\ndef spin():\n    while True:\n        pass\nfor _ in range(8):\n    threading.Thread(target=spin).start()\n"
    r = await attack(docker_sandbox, code, timeout_s=1)
    assert r.timed_out
    await assert_next_run_is_clean(docker_sandbox)


async def test_sleeping_child_outlives_parent(docker_sandbox):
    code = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        open('/tmp/survivor', 'w').write('alive')\n"
        "        time.sleep(100)\n"
        "    os._exit(0)\n"
        "time.sleep(0.2)\n"
        "print('parent done')\n"
    )
    r = await attack(docker_sandbox, code)
    assert r.ok and r.stdout == "parent done\n"
    assert not r.timed_out and r.wall_s < 30, "the runner must not wait for a detached child"
    await assert_next_run_is_clean(docker_sandbox)


async def test_no_network_loopback_or_host(docker_sandbox):
    # A listener on the host's loopback: the sandbox's 127.0.0.1 is its own, so it must not reach it.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    try:
        code = (
            "import socket\n"
            f"for addr in [('127.0.0.1', {port}), ('8.8.8.8', 53)]:\n"
            "    s = socket.socket()\n"
            "    s.settimeout(3)\n"
            "    try:\n"
            "        s.connect(addr)\n"
            "        print('CONNECTED', addr)\n"
            "    except OSError as exc:\n"
            "        print('refused', addr, exc.errno)\n"
        )
        r = await attack(docker_sandbox, code, timeout_s=8)
    finally:
        listener.close()
    assert r.ok
    assert "CONNECTED" not in r.stdout
    assert r.stdout.count("refused") == 2
    await assert_next_run_is_clean(docker_sandbox)


async def test_host_files_and_docker_socket_unreachable(docker_sandbox, tmp_path):
    secret = tmp_path / "host-secret.txt"
    secret.write_text("top secret")
    code = (
        "import os\n"
        f"print(os.path.exists({str(secret)!r}))\n"
        "print(os.path.exists('/var/run/docker.sock'), os.path.exists('/run/docker.sock'))\n"
        "try:\n"
        "    open('/etc/shadow').read()\n"
        "    print('shadow readable')\n"
        "except OSError:\n"
        "    print('shadow denied')\n"
    )
    r = await attack(docker_sandbox, code)
    assert r.ok
    assert r.stdout.split() == ["False", "False", "False", "shadow", "denied"]
    await assert_next_run_is_clean(docker_sandbox)


async def test_writes_outside_work_dir_fail_or_vanish(docker_sandbox):
    code = (
        "import os\n"
        "for path in ['/etc/evil', '/usr/lib/python3/dist-packages/evil.py', '/evil', '/root/evil', '/run/phalanx/evil']:\n"
        "    try:\n"
        "        open(path, 'w').write('x')\n"
        "        print('WROTE', path)\n"
        "    except OSError:\n"
        "        print('denied')\n"
        "open('/tmp/left', 'w').write('x')\n"
        "open('/dev/shm/left', 'w').write('x')\n"
        "open('left', 'w').write('x')\n"
        "os.environ['LEFT'] = '1'\n"
    )
    r = await attack(docker_sandbox, code)
    assert r.ok and "WROTE" not in r.stdout and r.stdout.count("denied") == 5
    await assert_next_run_is_clean(docker_sandbox)
    r = await run_python(docker_sandbox, "import os; print(os.environ.get('LEFT'))", limits=SMALL)
    assert r.stdout == "None\n"


async def test_program_kills_the_runner(docker_sandbox):
    code = (
        "import os, signal\n"
        "for pid in (os.getppid(), 1):\n"
        "    try:\n"
        "        os.kill(pid, signal.SIGKILL)\n"
        "    except OSError as exc:\n"
        "        print('kill failed', exc.errno)\n"
        "try:\n"
        "    os.kill(-1, signal.SIGKILL)\n"
        "except OSError:\n"
        "    pass\n"
    )
    r = await attack(docker_sandbox, code)
    # Either the runner survives (PID 1 ignores signals from its namespace) and reports
    # the program's SIGKILL, or the container dies and the result says so. Never a hang.
    assert r.exit_code == 0 or r.signal == 9 or "sandbox" in r.limits_hit
    await assert_next_run_is_clean(docker_sandbox)


async def test_ptrace_and_proc_fd_of_runner_denied(docker_sandbox):
    code = (
        "import os\n"
        "for path in ['/proc/1/fd/0', '/proc/1/fd/3', '/proc/1/mem', '/proc/1/environ']:\n"
        "    try:\n"
        "        open(path, 'rb').close()\n"
        "        print('OPENED', path)\n"
        "    except OSError:\n"
        "        print('denied')\n"
    )
    r = await attack(docker_sandbox, code)
    assert r.ok and "OPENED" not in r.stdout, r.stdout
    await assert_next_run_is_clean(docker_sandbox)


async def _kill_busy_containers(sb, task: asyncio.Task, times: int) -> int:
    """`docker kill` the container running `task`'s program, up to `times` times; returns the kills."""
    killed: set[str] = set()
    while len(killed) < times and not task.done():
        await asyncio.sleep(0.05)
        busy = [c.id for c in list(sb.pool._busy) if c.id and c.id not in killed and c.uses]
        if busy:
            await asyncio.sleep(0.3)  # let the program start
            subprocess.run(["docker", "kill", busy[0]], capture_output=True, timeout=30, check=True)
            killed.add(busy[0])
    return len(killed)


@pytest.mark.parametrize("kills", [1, 3])
async def test_container_killed_from_outside_is_retried_then_lost(docker_sandbox, kills):
    """A container killed under a program says nothing about the program: it runs again on a fresh
    container; killed on every attempt, the execution raises `SandboxLost` instead of a result."""
    from phalanx.sandbox import SandboxLost
    from phalanx.sandbox.docker.backend import ATTEMPTS

    sb = docker_sandbox
    lost = sb.lost
    code = "import time\ntime.sleep(1.5)\nprint('finished')\n"
    task = asyncio.create_task(run_python(sb, code, limits=SMALL.model_copy(update={"timeout_s": 10})))
    assert await _kill_busy_containers(sb, task, times=kills) == kills
    if kills < ATTEMPTS:
        r = await asyncio.wait_for(task, 60)
        assert r.ok and r.stdout == "finished\n" and r.limits_hit == [], r
    else:
        with pytest.raises(
            SandboxLost, match=rf"died during this execution .*on {ATTEMPTS} containers in a row"
        ):
            await asyncio.wait_for(task, 60)
    assert sb.lost == lost + kills
    await assert_next_run_is_clean(sb)


async def test_state_never_leaks_between_runs(docker_sandbox):
    r = await run_python(
        docker_sandbox,
        "import sys\nsys.modules['json'].LEAK = 1\nopen('f', 'w').write('1')\nprint(id(sys))",
        files={"input.txt": "data"},
        limits=SMALL,
    )
    assert r.ok
    r2 = await run_python(
        docker_sandbox, "import json, os\nprint(hasattr(json, 'LEAK'), os.listdir('.'))", limits=SMALL
    )
    assert r2.stdout == "False []\n"
