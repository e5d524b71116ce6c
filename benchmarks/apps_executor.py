"""Benchmark: StepCoder executor throughput (test cases per second) on APPS+ canonical solutions.

Prints ONE JSON line:
  phalanx_cases_per_s      phalanx executor, Docker sandbox, warm pool, one execution per program
  reference_cases_per_s    the papers' way: a fresh unsandboxed `python3` per test case on the host
  docker_exec_cases_per_s  one `docker exec` per test case into a warm container
and the ratios. Same programs, same concurrency for all three.

Usage: python benchmarks/apps_executor.py [--problems N] [--workers W] [--docker-exec-cases N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
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


def run_reference(cases: list[tuple[str, str]], workers: int) -> float:
    """Fresh host python3 per case; returns wall seconds."""
    python3 = host_python3()
    with tempfile.TemporaryDirectory() as tmp:

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

        start = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(one, enumerate(cases)))
        return time.perf_counter() - start


def run_docker_exec(cases: list[tuple[str, str]], workers: int, image_ref: str) -> float:
    """One `docker exec` per case into warm network-less containers; returns wall seconds."""
    containers = [
        subprocess.run(
            ["docker", "run", "-d", "--rm", "--network", "none", "--entrypoint", "sleep", image_ref, "3600"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for _ in range(workers)
    ]
    try:

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

        start = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(one, enumerate(cases)))
        return time.perf_counter() - start
    finally:
        subprocess.run(["docker", "rm", "-f", *containers], capture_output=True)


async def run_phalanx(problems, workers: int) -> tuple[float, int, object]:
    sandbox = open_sandbox("docker", image="scientific", pool_size=workers, memory_mb=2048)
    try:
        executor = Executor(sandbox, ExecutorConfig(case_timeout_s=REF_TIMEOUT_S))
        await sandbox.warm_up()
        # Warm every container once (pool start-up is not what is measured).
        await run_batch(executor, [Job(p, p.canonical_solution) for p in problems[:workers]], progress=False)
        start = time.perf_counter()
        results = await run_batch(
            executor, [Job(p, p.canonical_solution) for p in problems], concurrency=workers, progress=False
        )
        wall = time.perf_counter() - start
        return wall, sum(r.passed for r in results), sandbox.image_ref
    finally:
        await sandbox.aclose()


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
    ap.add_argument("--data", default=None, help="APPS+ data (default: the shared sample)")
    ap.add_argument("--problems", type=int, default=60)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--docker-exec-cases", type=int, default=40, help="cases timed for the docker-exec baseline"
    )
    args = ap.parse_args()

    problems = pick(load_problems(args.data), args.problems)
    cases = [case_script(p, i) for p in problems for i in range(p.n_cases)]
    ph_wall, ph_passed, image_ref = asyncio.run(run_phalanx(problems, args.workers))
    ref_wall = run_reference(cases, args.workers)
    dx_cases = cases[: args.docker_exec_cases] if args.docker_exec_cases > 0 else cases
    dx_wall = run_docker_exec(dx_cases, args.workers, image_ref)

    phalanx = len(cases) / ph_wall
    reference = len(cases) / ref_wall
    docker_exec = len(dx_cases) / dx_wall
    print(
        json.dumps(
            {
                "benchmark": "apps_executor",
                "problems": len(problems),
                "cases": len(cases),
                "workers": args.workers,
                "phalanx_passed": ph_passed,
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
