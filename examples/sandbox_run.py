"""Run untrusted python in phalanx's Docker sandbox: output, stdin, files, coverage and limits.

python examples/sandbox_run.py                 # Docker (build the image first:
                                               #   phalanx sandbox build-image)
python examples/sandbox_run.py --sandbox local # no Docker: local processes, NOT isolation
"""

from __future__ import annotations

import argparse
import asyncio

from phalanx.sandbox import ExecRequest, Limits, open_sandbox, run_python

SOLUTION = """
import sys
from stats import mean

nums = [int(x) for x in sys.stdin.read().split()]
if nums:
    print(mean(nums))
else:
    print("no input")
open("report.txt", "w").write(f"n={len(nums)}")
"""


async def main(backend: str) -> None:
    options = {"insecure": True} if backend == "local" else {"image": "default"}
    async with open_sandbox(backend, pool_size=2, **options) as sb:
        # 1. A program with stdin, a helper module written into its work dir, and a file read back.
        r = await run_python(
            sb,
            SOLUTION,
            stdin="3 4 5",
            files={"stats.py": "def mean(xs):\n    return sum(xs) / len(xs)\n"},
            collect=["report.txt"],
            coverage=True,
        )
        print("stdout:", r.stdout.strip(), "| files:", r.files, "| exit:", r.exit_code)
        print("lines run:", r.coverage)

        # 2. Limits: an endless loop is stopped at the wall-clock limit; the pool stays healthy.
        r = await run_python(sb, "while True:\n    pass\n", limits=Limits(timeout_s=0.5))
        print("endless loop -> timed_out:", r.timed_out, f"after {r.wall_s:.2f}s")

        # 3. A command instead of python code, and concurrent executions.
        r = await sb.execute(ExecRequest(command=["sh", "-c", "echo $((6 * 7))"]))
        print("command:", r.stdout.strip())
        squares = await asyncio.gather(*(run_python(sb, f"print({i}**2)") for i in range(4)))
        print("concurrent:", [int(s.stdout) for s in squares])


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sandbox", default="docker", choices=["docker", "local"])
    asyncio.run(main(ap.parse_args().sandbox))
