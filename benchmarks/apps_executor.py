"""Benchmark: StepCoder executor throughput (test cases per second) on APPS+ canonical solutions.

Prints ONE JSON line:
  phalanx_cases_per_s      phalanx executor, Docker sandbox, warm pool, one execution per program
  reference_cases_per_s    the papers' way: a fresh unsandboxed `python3` per test case on the host
  docker_exec_cases_per_s  one `docker exec` per test case into a warm container
and the ratios. Same programs, same cases, same concurrency for all three; the contenders
take turns (order rotated each round), warm-ups are not timed, and each figure is the
median of `--repeats` rounds.

Usage: python benchmarks/apps_executor.py [--problems N] [--workers W] [--repeats R]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from phalanx.agents.stepcoder import Executor, ExecutorConfig, Job, load_problems, run_batch
from phalanx.agents.stepcoder.harness import prelude_source
from phalanx.sandbox import open_sandbox

REF_TIMEOUT_S = 10.0


def case_script(problem, index: int) -> tuple[str, str]:
    """A standalone script + stdin for one case, as the papers' executors build it."""
    program = problem.canonical_solution
    prelude = prelude_source(program)
    if problem.io_mode == "stdin":
        return f"{prelude}\n{program}\n{problem.fn_name}()\n", problem.inputs[index]
    args = ", ".join(str(a) for a in problem.inputs[index])
    call = f"Solution().{problem.fn_name}" if "class Solution" in program else problem.fn_name
    return f"{prelude}\n{program}\nprint(repr({call}({args})))\n", ""


def host_python3() -> str:
    """The real host python3 binary (not a shell shim such as pyenv's, whose start-up would be counted)."""
    out = subprocess.run(
        ["python3", "-c", "import sys; print(sys.executable)"], capture_output=True, text=True
    )
    return out.stdout.strip() or "python3"


def _timed_pool(one, cases: list[tuple[str, str]], workers: int) -> float:
    """Wall seconds to run `one((index, case))` for every case on `workers` threads."""
    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, enumerate(cases)))
    return time.perf_counter() - start


def run_reference(cases: list[tuple[str, str]], workers: int, tmp: str, python3: str) -> float:
    """Fresh host python3 per case; returns wall seconds."""

    def one(item: tuple[int, tuple[str, str]]) -> None:
        i, (src, stdin) = item
        path = Path(tmp) / f"case{i}.py"
        path.write_text(src)
        try:
            subprocess.run(
                [python3, str(path)], input=stdin, capture_output=True, text=True, timeout=REF_TIMEOUT_S
            )
        except subprocess.TimeoutExpired:
            pass

    return _timed_pool(one, cases, workers)


def start_containers(workers: int, image_ref: str) -> list[str]:
    """Warm network-less containers for the docker-exec baseline."""
    return [
        subprocess.run(
            ["docker", "run", "-d", "--rm", "--network", "none", "--entrypoint", "sleep", image_ref, "3600"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for _ in range(workers)
    ]


def run_docker_exec(cases: list[tuple[str, str]], containers: list[str]) -> float:
    """One `docker exec` per case into warm network-less containers; returns wall seconds."""
    workers = len(containers)

    def one(item: tuple[int, tuple[str, str]]) -> None:
        i, (src, stdin) = item
        cid = containers[i % workers]
        try:
            subprocess.run(
                ["docker", "exec", "-i", cid, "python3", "-c", src],
                input=stdin,
                capture_output=True,
                text=True,
                timeout=REF_TIMEOUT_S * 3,
            )
        except subprocess.TimeoutExpired:
            pass

    return _timed_pool(one, cases, workers)


async def run_phalanx(executor: Executor, problems, workers: int) -> tuple[float, int]:
    """Every program against all its cases, one sandbox execution per program; returns (wall s, passed)."""
    start = time.perf_counter()
    results = await run_batch(
        executor, [Job(p, p.canonical_solution) for p in problems], concurrency=workers, progress=False
    )
    return time.perf_counter() - start, sum(r.passed for r in results)


async def measure(problems, cases, workers: int, repeats: int) -> dict[str, list[float]]:
    """Wall seconds of each contender per repeat: same programs and cases, interleaved, warm-ups untimed."""
    sandbox = open_sandbox("docker", image="scientific", pool_size=workers, memory_mb=2048)
    containers: list[str] = []
    walls: dict[str, list[float]] = {"phalanx": [], "reference": [], "docker_exec": []}
    passed: list[int] = []
    try:
        executor = Executor(sandbox, ExecutorConfig(case_timeout_s=REF_TIMEOUT_S))
        await sandbox.warm_up()
        containers = start_containers(workers, sandbox.image_ref)
        python3 = host_python3()
        with tempfile.TemporaryDirectory() as tmp:
            # Warm-up (untimed): every pool container, the host python3, every docker-exec container.
            warm = problems[: max(workers, 2)]
            await run_batch(executor, [Job(p, p.canonical_solution) for p in warm], progress=False)
            run_reference(cases[:workers], workers, tmp, python3)
            run_docker_exec(cases[:workers], containers)

            async def phalanx() -> float:
                wall, ok = await run_phalanx(executor, problems, workers)
                passed.append(ok)
                return wall

            contenders = {
                "phalanx": phalanx,
                "reference": lambda: asyncio.to_thread(run_reference, cases, workers, tmp, python3),
                "docker_exec": lambda: asyncio.to_thread(run_docker_exec, cases, containers),
            }
            order = list(contenders)
            for rep in range(repeats):
                # Rotate the order so no contender always runs first (or right after another).
                for name in order[rep % 3 :] + order[: rep % 3]:
                    walls[name].append(await contenders[name]())
    finally:
        await sandbox.aclose()
        if containers:
            subprocess.run(["docker", "rm", "-f", *containers], capture_output=True)
    walls["passed"] = [float(min(passed))]
    return walls


def pick(problems, n: int):
    """n problems spread over difficulties in file order, skipping the few CPU-heavy ones (> 1 s/case)."""
    heavy = {"38", "135", "150", "33"}
    by_level: dict[str, list] = {}
    for p in problems:
        if p.problem_id not in heavy:
            by_level.setdefault(p.difficulty, []).append(p)
    out = []
    while len(out) < n and any(by_level.values()):
        for level in list(by_level):
            if by_level[level] and len(out) < n:
                out.append(by_level[level].pop(0))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="APPS+ data (default: the sample shipped with phalanx)")
    ap.add_argument("--problems", type=int, default=60)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="timed rounds; the median round counts")
    args = ap.parse_args()

    problems = pick(load_problems(args.data), args.problems)
    cases = [case_script(p, i) for p in problems for i in range(p.n_cases)]
    walls = asyncio.run(measure(problems, cases, args.workers, max(1, args.repeats)))

    phalanx = len(cases) / statistics.median(walls["phalanx"])
    reference = len(cases) / statistics.median(walls["reference"])
    docker_exec = len(cases) / statistics.median(walls["docker_exec"])
    print(
        json.dumps(
            {
                "benchmark": "apps_executor",
                "problems": len(problems),
                "cases": len(cases),
                "workers": args.workers,
                "repeats": max(1, args.repeats),
                "phalanx_passed": int(walls["passed"][0]),
                "phalanx_cases_per_s": round(phalanx, 2),
                "reference_cases_per_s": round(reference, 2),
                "docker_exec_cases_per_s": round(docker_exec, 2),
                "phalanx_vs_reference": round(phalanx / reference, 2),
                "phalanx_vs_docker_exec": round(phalanx / docker_exec, 2),
                "python": sys.version.split()[0],
            }
        )
    )


if __name__ == "__main__":
    main()
