"""Verify a handful of APPS+ problems in the Docker sandbox and score a few candidate programs.

Run:  python examples/stepcoder_verify.py [DATA] [--limit 6] [--sandbox docker|local]
(DATA defaults to the APPS+ sample shipped with phalanx; needs Docker and `phalanx sandbox build-image --name scientific`.)
"""

from __future__ import annotations

import argparse
import asyncio

from phalanx.agents.stepcoder import (
    Executor,
    build_subtasks,
    load_problems,
    open_apps_sandbox,
    verify_apps,
)


async def main(data: str | None, limit: int, backend: str) -> None:
    sandbox = open_apps_sandbox(backend, workers=2)
    try:
        # 1. The dataset check: every canonical solution against its own tests.
        summary = await verify_apps(data, sandbox=sandbox, workers=2, limit=limit, progress=False)
        for level, d in summary.by_difficulty.items():
            print(f"{level:13s} {d.passed}/{d.problems} canonical solutions pass")
        for f in summary.failures:
            print(f"  FAIL {f.problem_id} case {f.case}: {f.outcome} — {f.detail}")

        # 2. The reward ladder on candidates for one problem: correct, truncated, broken.
        problem = load_problems(data, limit=1)[0]
        executor = Executor(sandbox)
        candidates = {
            "canonical": problem.canonical_solution,
            "CCCS prefix only": build_subtasks(problem)[0].prefix + "        pass\n",
            "syntax error": problem.canonical_solution.replace("def ", "def def ", 1),
        }
        for name, program in candidates.items():
            res = await executor.run(problem, program, stop_on_failure=True)
            print(f"problem {problem.problem_id} {name:17s} reward {res.reward:+.1f}  ({res.explain()[:70]})")
    finally:
        await sandbox.aclose()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", nargs="?", default=None)
    ap.add_argument("--limit", type=int, default=6)
    ap.add_argument("--sandbox", default="docker", choices=["docker", "local"])
    args = ap.parse_args()
    asyncio.run(main(args.data, args.limit, args.sandbox))
