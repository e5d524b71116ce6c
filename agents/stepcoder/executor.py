"""Run a candidate program against all unit tests of a problem in ONE sandbox execution.

The harness (`harness.py`) travels into the sandbox as source together with a JSON
spec; it forks one child per case with a per-case wall-clock limit, so a program is
compiled once and the sandbox is entered once per (problem, program), not once per
test case as in the papers' executors (methods.md Part C §1).
"""

from __future__ import annotations

import base64
import importlib.util
import json
import marshal
import secrets
import time
import zlib
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from phalanx.agents.stepcoder.reward import DEFAULT_LADDER, RewardLadder, compute_reward
from phalanx.agents.stepcoder.types import CaseResult, Problem, ProgramResult
from phalanx.sandbox import ExecRequest, Limits, Sandbox

_HARNESS_STARTUP_S = 15.0
"""Budget for starting python3 and the import prelude (numpy/scipy included) in the sandbox."""


@cache
def harness_source() -> str:
    """The source text of the in-sandbox harness."""
    return (Path(__file__).parent / "harness.py").read_text(encoding="utf-8")


@cache
def harness_code() -> str:
    """The code sent into the sandbox: the harness precompiled here, with its source as fallback.

    Compiling the ~450-line harness costs about 2 ms in the sandbox on every execution, a
    large share of a typical program's run. When the sandbox's python has the same bytecode
    magic number as this one, a small loader unmarshals the code compiled once here instead
    (docstrings stripped, zlib-compressed: the request's size costs time too); any other
    python compiles the (compressed) source as before.
    """
    src = harness_source()
    code = compile(src, "<stepcoder-harness>", "exec", dont_inherit=True, optimize=2)
    blob = base64.b64encode(zlib.compress(marshal.dumps(code), 9)).decode("ascii")
    fallback = base64.b64encode(zlib.compress(src.encode("utf-8"), 9)).decode("ascii")
    return (
        "import marshal as _m, zlib as _z, binascii as _a, _frozen_importlib_external as _b\n"
        f"if _b.MAGIC_NUMBER == {importlib.util.MAGIC_NUMBER!r}:\n"
        f"    _c = _m.loads(_z.decompress(_a.a2b_base64({blob!r})))\n"
        "else:\n"
        f"    _c = compile(_z.decompress(_a.a2b_base64({fallback!r})), "
        "'<stepcoder-harness>', 'exec', dont_inherit=True)\n"
        "del _m, _z, _a, _b\n"
        "exec(_c)\n"
    )


class ExecutorConfig(BaseModel):
    """How candidate programs are run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    case_timeout_s: float = Field(4.0, gt=0, le=120)
    """CPU-time limit per test case (the papers use 3 s wall-clock for a fresh process incl. start-up;
    CPU time keeps verdicts stable on a loaded machine)."""
    wall_factor: float = Field(3.0, ge=1, le=100)
    """Wall-clock limit per case = `case_timeout_s * wall_factor` (catches sleeping/blocked programs)."""
    memory_mb: int = Field(1024, ge=64, le=65536)
    """Address-space limit per test case (RLIMIT_AS)."""
    max_output_bytes: int = Field(4_000_000, ge=1024, le=256_000_000)
    """stdout captured per case before the case is cut off as a wrong answer (at least 4x the expected size)."""
    coverage: bool = False
    """Record the program lines each case executes (used by FGO); slows execution several-fold."""
    coverage_time_factor: float = Field(4.0, ge=1, le=100)
    """Time limits are multiplied by this when coverage is traced (line tracing slows programs down)."""
    stop_on_failure: bool = False
    """Stop at the first failing case (enough for the reward; `verify` wants every case)."""
    compare: Literal["official", "strict"] = "official"
    """How a call-based result is compared with the expected value. `official` (default): as the
    dataset's own executor does, so verdicts match published numbers: APPS+ (StepCoder) asserts
    `fn(*args) == expected`, so `False == 0`, `1.0 == 1` and floats compare exactly; the original
    APPS also accepts a tuple for a list. `strict`: the same rule, but types must match too at every
    level (`False` is not `0`, `1.0` is not `1`, a tuple is not a list), for checking a model's
    outputs more closely than the benchmark does."""


class Executor:
    """Runs programs against problems' unit tests inside a `Sandbox`.

    Args:
        sandbox: any phalanx sandbox (`open_sandbox("docker", image="scientific")` for APPS+;
            the local backend only when explicitly requested, it is not isolated).
        config: limits and options.
        ladder: reward values.
    """

    def __init__(
        self, sandbox: Sandbox, config: ExecutorConfig | None = None, ladder: RewardLadder = DEFAULT_LADDER
    ) -> None:
        self.sandbox = sandbox
        self.config = config or ExecutorConfig()
        self.ladder = ladder

    def build_request(
        self, problem: Problem, program: str, *, coverage: bool, stop_on_failure: bool
    ) -> tuple[ExecRequest, str]:
        """The sandbox request that runs `program` on every case of `problem`, and its report marker."""
        cfg = self.config
        cpu_s = cfg.case_timeout_s * (cfg.coverage_time_factor if coverage else 1.0)
        marker = "@@phalanx-stepcoder-" + secrets.token_hex(8) + "@@"
        spec = {
            "marker": marker,
            "program": program,
            "io_mode": problem.io_mode,
            "fn_name": problem.fn_name,
            "args_are_literals": problem.args_are_literals,
            "cases": [
                {"input": i, "output": o} for i, o in zip(problem.inputs, problem.outputs, strict=True)
            ],
            "case_timeout_s": cpu_s,
            "case_wall_s": cpu_s * cfg.wall_factor,
            "memory_mb": cfg.memory_mb,
            "max_output_bytes": cfg.max_output_bytes,
            "coverage": coverage,
            "stop_on_failure": stop_on_failure,
            "compare": cfg.compare,
        }
        # The harness may stretch a starved but computing case up to 4x its wall budget.
        total = _HARNESS_STARTUP_S + problem.n_cases * (4 * cpu_s * cfg.wall_factor + 0.5)
        limits = Limits(
            timeout_s=min(total, 3600),
            memory_mb=cfg.memory_mb + 512,
            max_output_bytes=1_000_000,
            max_processes=128,
        )
        request = ExecRequest(
            code=harness_code(),
            files={"stepcoder_spec.json": json.dumps(spec)},
            limits=limits,
        )
        return request, marker

    async def run(
        self,
        problem: Problem,
        program: str,
        *,
        coverage: bool | None = None,
        stop_on_failure: bool | None = None,
    ) -> ProgramResult:
        """Run `program` against all of `problem`'s tests in one sandbox execution.

        Raises:
            SandboxUnavailable: the sandbox cannot run anything (a failing program is a result).
        """
        cov = self.config.coverage if coverage is None else coverage
        stop = self.config.stop_on_failure if stop_on_failure is None else stop_on_failure
        request, marker = self.build_request(problem, program, coverage=cov, stop_on_failure=stop)
        start = time.monotonic()
        res = await self.sandbox.execute(request)
        wall = time.monotonic() - start
        out = ProgramResult(problem_id=problem.problem_id, difficulty=problem.difficulty, wall_s=wall)
        report = _parse_report(res.stdout, marker)
        if report is None:
            if res.timed_out:
                out.cases = [
                    CaseResult(index=0, outcome="timeout", detail="the whole execution ran past its limit")
                ]
            elif res.memory_exceeded:
                out.cases = [
                    CaseResult(index=0, outcome="memory_limit", detail="the harness ran out of memory")
                ]
            else:
                tail = "\n".join(res.stderr.rstrip().splitlines()[-6:])
                out.harness_error = (
                    f"no report from the harness (exit {res.exit_code}, signal {res.signal}): {tail[-600:]}"
                )
        else:
            covered: set[int] = set()
            for raw in report["cases"]:
                covered.update(raw.pop("coverage", []) or [])
                out.cases.append(CaseResult.model_validate(raw))
            if cov:
                out.coverage = sorted(covered)
        out.passed = (
            bool(out.cases) and out.harness_error is None and all(c.outcome == "pass" for c in out.cases)
        )
        out.first_failure = next((c for c in out.cases if c.outcome != "pass"), None)
        out.reward = compute_reward(out, self.ladder)
        return out


def _parse_report(stdout: str, marker: str) -> dict | None:
    idx = stdout.rfind(marker)
    if idx < 0:
        return None
    line = stdout[idx + len(marker) :].split("\n", 1)[0]
    try:
        report = json.loads(line)
    except json.JSONDecodeError:
        return None
    return report if isinstance(report, dict) and isinstance(report.get("cases"), list) else None
