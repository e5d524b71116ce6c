"""The in-sandbox test harness of the StepCoder executor (stdlib only, Python >= 3.8).

This file's *source* is sent into the sandbox and run there with the sandbox's
python3; it never runs on the host unless the caller chose the local backend
explicitly. Protocol:

* argv[1] (default `stepcoder_spec.json`): the JSON spec in the work dir, deleted
  as soon as it is read so the candidate cannot read expected outputs from disk.
* stdout: one line `<marker><json report>` at the end.

The candidate is compiled once; each test case runs in a forked child (its own
process group, so killpg also kills processes the candidate started) with rlimits, a
wall-clock limit enforced by the parent, and capped output capture. Forking a
warm interpreter per case is what makes this faster than the papers' fresh
`python3` per case (methods.md Part C §1).

Per-execution costs are kept small because a typical APPS+ program has only a few
cases: the executor ships this file precompiled (`executor.harness_code`), the
sandbox runner has the prelude's modules imported before it forks, stdin is a
memfd rather than a file, and a child that reported is reaped after the next case
has started (its rusage CPU time is still checked then, `reap_pending`).
"""

import gc
import json
import os
import re
import resource
import select
import signal
import sys
import time
import traceback

CANDIDATE = "<candidate>"
"""Filename the candidate is compiled under (coverage and tracebacks refer to it)."""
SPEC_FILE = "stepcoder_spec.json"
"""Default name of the spec file in the work dir."""

# The import prelude of StepCoder-family executors (methods.md Part C §1): programs in
# APPS+ use List, deque, math, ... without importing them. `math`'s star-import would
# shadow the built-in three-argument pow(), so pow is removed from the namespace again.
PRELUDE = """
import sys, os, io, re, math, heapq, bisect, itertools, collections, functools, operator, string, copy
{typing}from collections import *
from itertools import *
from functools import *
from heapq import *
from bisect import *
from math import *
"""

# `typing.__all__` (3.11): `from typing import *` costs more start-up than the rest of the
# prelude together, so it is done only when the program names one of these (or `typing`).
TYPING_NAMES = frozenset(
    """AbstractSet Annotated Any AnyStr AsyncContextManager AsyncGenerator AsyncIterable AsyncIterator
    Awaitable BinaryIO ByteString Callable ChainMap ClassVar Collection Concatenate Container
    ContextManager Coroutine Counter DefaultDict Deque Dict Final ForwardRef FrozenSet Generator Generic
    Hashable IO ItemsView Iterable Iterator KeysView List Literal LiteralString Mapping MappingView Match
    MutableMapping MutableSequence MutableSet NamedTuple Never NewType NoReturn NotRequired Optional
    OrderedDict ParamSpec ParamSpecArgs ParamSpecKwargs Pattern Protocol Required Reversible Self Sequence
    Set Sized SupportsAbs SupportsBytes SupportsComplex SupportsFloat SupportsIndex SupportsInt
    SupportsRound TYPE_CHECKING Text TextIO Tuple Type TypeAlias TypeGuard TypeVar TypeVarTuple TypedDict
    Union Unpack ValuesView assert_never assert_type cast clear_overloads dataclass_transform final
    get_args get_origin get_overloads get_type_hints is_typeddict no_type_check no_type_check_decorator
    overload reveal_type runtime_checkable typing""".split()
)

OPTIONAL = {
    # Imported only when the program's text names them: each costs start-up time, and a
    # program can only use a module (or these names) by writing the name.
    "cmath": "import cmath",
    "random": "import random",
    "fractions": "import fractions",
    "Fraction": "from fractions import Fraction",
    "decimal": "import decimal",
    "Decimal": "from decimal import Decimal",
    "statistics": "import statistics",
    "array": "import array",
    "time": "import time",
    "datetime": "import datetime",
    "json": "import json",
    "queue": "import queue",
    "numpy": "import numpy",
    "np": "import numpy as np",
}


def prelude_source(source):
    """The prelude for `source`: the core imports, the optional ones it names, and `pow` restored."""
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", source))
    typing = "from typing import *\n" if words & TYPING_NAMES else ""
    lines = [PRELUDE.format(typing=typing)]
    lines += [
        f"try:\n    {stmt}\nexcept ImportError:\n    pass" for name, stmt in OPTIONAL.items() if name in words
    ]
    lines.append("del pow  # math.pow from the star-import; the built-in 3-argument pow is wanted")
    return "\n".join(lines) + "\n"


def build_namespace(source):
    ns = {"__name__": "__main__", "__builtins__": __builtins__}
    exec(compile(prelude_source(source), "<prelude>", "exec"), ns)
    return ns


def literal(value):
    if isinstance(value, str):
        import ast  # only call-mode problems need it (preloaded by the sandbox runner)

        try:
            return ast.literal_eval(value)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return value
    return value


def strict_equal(a, b):
    """`a == b` with every type equal too, recursively: False is not 0, 1.0 is not 1, (1,) is not [1]."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(strict_equal(a[i], b[i]) for i in range(len(a)))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(strict_equal(a[k], b[k]) for k in a)
    return a == b


def python_equal(a, b):
    return a == b


def int_keys(value):
    """APPS stores dict outputs and dict arguments in JSON, whose keys are strings; its executor
    turns them back into ints (best effort, like testing_util.py)."""
    try:
        return {int(k): v for k, v in value.items()}
    except (AttributeError, TypeError, ValueError):
        return value


def outputs_match(got, want, literal_source, strict):
    """Whether a call-based result is right, by the comparison of the dataset's official executor.

    APPS+ (StepCoder, `literal_source`): the test is `assert fn(*args) == <expected>`, so Python
    `==` decides (False == 0, 1.0 == 1, a tuple is not a list, floats are exact).
    APPS (hendrycks/apps eval/testing_util.py): a tuple result becomes a list, then it must equal
    the stored output or that output's first element, or, for a list of tuples, the first element
    as a list of lists.
    `strict` keeps the same rule with type-exact equality (`strict_equal`) in place of `==`.
    A comparison that raises (e.g. an ambiguous numpy truth value) is a mismatch.
    """
    eq = strict_equal if strict else python_equal
    try:
        if literal_source:
            return bool(eq(got, want))
        if isinstance(got, tuple):
            got = list(got)
        if isinstance(want, dict):
            want = [int_keys(want)]
        elif isinstance(want, list) and want and isinstance(want[0], dict):
            want = [int_keys(want[0])]
        if bool(eq(got, want)):
            return True
        if isinstance(want, list) and want and bool(eq(got, want[0])):
            return True
        if isinstance(got, list) and got and isinstance(got[0], tuple):
            return isinstance(want, list) and bool(want) and bool(eq([list(x) for x in got], want[0]))
        return False
    except Exception:
        return False


def clip(text, n=300):
    return text if len(text) <= n else text[:n] + "..."


def lines_of(text):
    # APPS+/StepCoder compare stdout line by line after strip() of each line.
    return [line.strip() for line in text.strip().split("\n")]


def first_difference(got, want):
    g, w = lines_of(got), lines_of(want)
    for i in range(max(len(g), len(w))):
        a = g[i] if i < len(g) else "<missing>"
        b = w[i] if i < len(w) else "<missing>"
        if a != b:
            return f"line {i + 1}: got {clip(a, 80)!r}, expected {clip(b, 80)!r}"
    return ""


def make_tracer(lines):
    def local(frame, event, arg):
        if event == "line":
            lines.add(frame.f_lineno)
        return local

    def glob(frame, event, arg):
        if frame.f_code.co_filename == CANDIDATE:
            if frame.f_lineno > 0:
                lines.add(frame.f_lineno)
            return local
        return None

    return glob


def call_case(spec, ns, case):
    """Call the candidate's function (or `Solution` method) with the case's arguments and compare
    the return value with the expected one; returns the case's status."""
    fn = spec.get("fn_name")
    target = ns.get(fn)
    if "Solution" in ns and isinstance(ns["Solution"], type) and hasattr(ns["Solution"], fn):
        target = getattr(ns["Solution"](), fn)
    if not callable(target):
        raise NameError(f"the program defines no function {fn!r} to call")
    lit = spec.get("args_are_literals", True)
    args = [literal(a) for a in case["input"]] if lit else list(case["input"])
    if not lit and args and isinstance(args[0], dict):
        args[0] = int_keys(args[0])
    got = target(*args)
    want = case["output"]
    if lit:
        want = literal(want[0]) if isinstance(want, list) and len(want) == 1 else literal(want)
    if outputs_match(got, want, lit, spec.get("compare") == "strict"):
        return {"status": "ok"}
    return {
        "status": "wrong_answer",
        "detail": f"returned {clip(repr(got), 160)}, expected {clip(repr(want), 160)}",
    }


def child(spec, code, ns, case, stdin_fd, res_w):
    """Runs in the forked child; never returns."""
    import io
    import threading

    status = {"status": "ok"}
    covered = set()
    try:
        os.dup2(stdin_fd, 0)
        os.close(stdin_fd)
        sys.stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding="utf-8")
        sys.stdout = io.TextIOWrapper(
            io.BufferedWriter(io.FileIO(1, "w", closefd=False), 1 << 16),
            encoding="utf-8",
            errors="backslashreplace",
        )
        sys.stderr = io.TextIOWrapper(
            io.FileIO(2, "w", closefd=False), encoding="utf-8", errors="backslashreplace", write_through=True
        )
        mem = spec["memory_mb"] << 20
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        # Time is CPU time (robust on a loaded machine); RLIMIT_CPU is whole seconds, so
        # the exact check is made from the child's rusage by the parent.
        cpu = int(spec["case_timeout_s"]) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        tracer = make_tracer(covered) if spec.get("coverage") else None
        if tracer:
            threading.settrace(tracer)
            sys.settrace(tracer)
        fn = spec.get("fn_name")
        try:
            exec(code, ns)
            if spec["io_mode"] == "call":
                status = call_case(spec, ns, case)
            elif fn and callable(ns.get(fn)):
                # APPS+ wraps stdin programs in a zero-argument function; a plain script
                # (original APPS, or a model that wrote one) already ran during exec().
                ns[fn]()
        except SystemExit as exc:
            if spec["io_mode"] == "call" or exc.code not in (None, 0):
                status = {"status": "runtime_error", "detail": f"SystemExit({exc.code!r})"}
        finally:
            if tracer:
                sys.settrace(None)
                threading.settrace(None)
    except MemoryError:
        status = {"status": "memory_limit", "detail": "MemoryError"}
    except RecursionError as exc:
        traceback.print_exc()
        status = {"status": "runtime_error", "detail": f"RecursionError: {clip(str(exc), 120)}"}
    except BaseException as exc:
        try:
            traceback.print_exc()
        except BaseException:
            pass
        status = {"status": "runtime_error", "detail": clip(f"{type(exc).__name__}: {exc}", 200)}
    try:
        sys.stdout.flush()
    except BaseException:
        pass
    try:
        status["coverage"] = sorted(covered)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        status["cpu"] = usage.ru_utime + usage.ru_stime
        data = json.dumps(status).encode()
        view = memoryview(data)
        while view:
            view = view[os.write(res_w, view[:65536]) :]
    except BaseException:
        pass
    # Close the pipes before exiting: the parent sees EOF now, not after the kernel has torn
    # down this process's memory, and reaps it later (`Reaper`).
    for fd in (0, 1, 2, res_w):
        try:
            os.close(fd)
        except OSError:
            pass
    os._exit(0)


def proc_cpu_s(pid):
    """CPU seconds used so far by a running process (Linux /proc), or None."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def stdin_fd(text, workdir, index):
    """A readable fd holding a case's stdin (an anonymous memfd; a deleted file where there is none)."""
    raw = text.encode("utf-8")
    try:
        fd = os.memfd_create("stdin")
    except (AttributeError, OSError):
        path = os.path.join(workdir, f"stdin-{index}.txt")
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        os.unlink(path)
    view = memoryview(raw)
    while view:
        view = view[os.write(fd, view) :]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


MAX_PENDING = 4
"""At most this many exited-but-unreaped case children at a time."""
PENDING: list = []
"""(pid, result) of cases whose child reported and closed its pipes but was not yet reaped."""


def reap_pending(spec, block=True):
    """Reap deferred children; a case whose real CPU time (rusage) exceeds the limit becomes a timeout.

    With `block` False only children that are already gone are reaped (the others stay pending).
    """
    keep = []
    for pid, res in PENDING:
        try:
            done, _, rusage = os.wait4(pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            continue
        if not done:
            keep.append((pid, res))
            continue
        cpu_s = rusage.ru_utime + rusage.ru_stime
        res["cpu_s"] = round(max(cpu_s, res["cpu_s"]), 4)
        if cpu_s > spec["case_timeout_s"] and res["outcome"] != "timeout":
            res.update(
                outcome="timeout",
                detail="used {:.2f}s CPU, limit {:.1f}s".format(cpu_s, spec["case_timeout_s"]),
            )
    PENDING[:] = keep


def run_case(spec, code, ns, index, case, workdir):
    """Run one test case in a forked child and judge it: pass, wrong_answer, timeout, ..."""
    # Unreaped children count against the sandbox's process limit: keep only a few pending.
    if PENDING:
        reap_pending(spec, block=len(PENDING) >= MAX_PENDING)
    in_fd = stdin_fd(case["input"] if spec["io_mode"] == "stdin" else "", workdir, index)
    pipes = [os.pipe() for _ in range(3)]  # stdout, stderr, result
    sys.stdout.flush()
    sys.stderr.flush()
    start = time.monotonic()
    try:
        pid = start_child(spec, code, ns, case, in_fd, pipes)
    except OSError as exc:
        for r, w in pipes:
            os.close(r)
            os.close(w)
        os.close(in_fd)
        return {
            "index": index,
            "outcome": "runtime_error",
            "detail": f"could not start the case: {exc.strerror} (process limit reached)",
            "stderr_tail": "",
            "wall_s": 0.0,
            "cpu_s": 0.0,
            "coverage": [],
        }
    try:
        os.setpgid(pid, pid)
    except OSError:
        pass
    os.close(in_fd)
    for _, w in pipes:
        os.close(w)
    run = watch_case(pid, [r for r, _ in pipes], spec, case, start)
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    wall = time.monotonic() - start
    for fd in run.bufs:
        os.close(fd)
    try:
        report = json.loads(bytes(run.bufs[run.result_fd]).decode() or "null")
    except ValueError:
        report = None
    deferred = False
    if run.exited is None:
        done, st, ru = os.wait4(pid, os.WNOHANG)
        if done:
            run.exited, run.rusage = st, ru
        elif report is not None and not run.timed_out and not run.output_exceeded:
            # The child reported and is only exiting: reap it later, so its teardown overlaps
            # the next case (its final CPU time is checked then, in `reap_pending`).
            deferred = True
        else:
            _, run.exited, run.rusage = os.wait4(pid, 0)
    res = judge_case(spec, case, index, run, report, wall)
    if deferred:
        PENDING.append((pid, res))
    return res


def start_child(spec, code, ns, case, in_fd, pipes):
    """Fork the case's process; returns its pid (the child runs the candidate and never returns).

    Raises:
        OSError: no process could be started, even after reaping our finished children.
    """
    try:
        pid = os.fork()
    except OSError:
        # Out of processes (killed leftovers of earlier cases not yet reaped by the sandbox):
        # reap what is ours and try once more, else the case fails rather than the whole run.
        reap_pending(spec)
        pid = os.fork()
    if pid == 0:
        try:
            # Own process group (set on both sides of fork, the classic race-free way),
            # so killpg reaches everything the candidate spawned.
            try:
                os.setpgid(0, 0)
            except OSError:
                pass
            os.dup2(pipes[0][1], 1)
            os.dup2(pipes[1][1], 2)
            for r, w in pipes:
                os.close(r)
                if w != pipes[2][1]:
                    os.close(w)
            child(spec, code, ns, case, in_fd, pipes[2][1])
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(70)
    return pid


class CaseRun:
    """What the parent saw of one case: its output, how it ended, and which limit stopped it."""

    def __init__(self, read_fds, out_cap):
        self.out_fd, self.err_fd, self.result_fd = read_fds
        self.bufs = {fd: bytearray() for fd in read_fds}
        self.out_cap = out_cap
        self.timed_out = False
        self.output_exceeded = False
        self.exited = None
        self.rusage = None

    def text(self, fd):
        return bytes(self.bufs[fd]).decode("utf-8", "replace")


def watch_case(pid, read_fds, spec, case, start):
    """Read the case's pipes until they close, the child exits, its output passes the cap, or its
    time is up (a wall-clock backstop, extended while it keeps computing)."""
    want_len = len(case["output"]) if isinstance(case["output"], str) else 0
    run = CaseRun(read_fds, max(4 * want_len, spec["max_output_bytes"]))
    open_fds = set(run.bufs)
    # Wall-clock backstop for programs that sleep or block instead of computing.
    deadline = start + spec["case_wall_s"]
    # On a starved machine a CPU-bound case can pass its wall-clock budget well before its CPU
    # budget; while it keeps computing (>= 10% of a core) it gets more time, up to 4x the budget.
    hard_deadline = start + 4 * spec["case_wall_s"]
    last_cpu, last_check = 0.0, start
    while open_fds:
        now = time.monotonic()
        remaining = deadline - now
        if remaining <= 0:
            cpu_now = proc_cpu_s(pid)
            computing = cpu_now is not None and cpu_now - last_cpu >= 0.1 * (now - last_check)
            if computing and cpu_now < spec["case_timeout_s"] and now < hard_deadline:
                last_cpu, last_check = cpu_now, now
                deadline = now + 1.0
                continue
            run.timed_out = True
            break
        ready, _, _ = select.select(list(open_fds), [], [], min(remaining, 0.25))
        if not ready:
            # The child may have exited while a grandchild still holds the pipes open.
            done, st, ru = os.wait4(pid, os.WNOHANG)
            if done:
                run.exited, run.rusage = st, ru
                break
            continue
        for fd in ready:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                open_fds.discard(fd)
                continue
            buf = run.bufs[fd]
            buf += chunk
            if fd == run.err_fd and len(buf) > 1 << 16:
                del buf[: len(buf) - (1 << 15)]
            if fd == run.out_fd and len(buf) > run.out_cap:
                run.output_exceeded = True
        if run.output_exceeded:
            break
    return run


def judge_case(spec, case, index, run, report, wall):
    """The case's result: outcome and detail, CPU and wall time, stderr tail and coverage."""
    stdout = run.text(run.out_fd)
    stderr = run.text(run.err_fd)
    tail = "\n".join(stderr.rstrip().split("\n")[-6:])
    res = {"index": index, "wall_s": round(wall, 4), "stderr_tail": clip(tail, 1200), "coverage": []}
    if report:
        res["coverage"] = report.get("coverage", [])
    if run.rusage is not None:
        cpu_s = run.rusage.ru_utime + run.rusage.ru_stime
    else:
        cpu_s = float(report.get("cpu", 0.0)) if report else 0.0
    res["cpu_s"] = round(cpu_s, 4)
    if run.timed_out:
        res.update(
            outcome="timeout", detail="no result within {:.1f}s wall-clock".format(spec["case_wall_s"])
        )
    elif cpu_s > spec["case_timeout_s"]:
        res.update(
            outcome="timeout", detail="used {:.2f}s CPU, limit {:.1f}s".format(cpu_s, spec["case_timeout_s"])
        )
    elif run.output_exceeded:
        res.update(outcome="wrong_answer", detail=f"output exceeded {run.out_cap} bytes")
    elif report is None:
        exited = run.exited
        sig = os.WTERMSIG(exited) if os.WIFSIGNALED(exited) else None
        if sig == signal.SIGXCPU:
            res.update(outcome="timeout", detail="CPU time limit")
        elif sig == signal.SIGKILL:
            res.update(outcome="memory_limit", detail="killed (SIGKILL), most likely out of memory")
        else:
            what = f"signal {sig}" if sig else f"exit status {os.WEXITSTATUS(exited)}"
            res.update(outcome="runtime_error", detail=f"process ended by {what}")
    elif report["status"] == "ok":
        if spec["io_mode"] == "call" or lines_of(stdout) == lines_of(case["output"]):
            res.update(outcome="pass", detail="")
        else:
            res.update(outcome="wrong_answer", detail=first_difference(stdout, case["output"]))
    else:
        res.update(outcome=report["status"], detail=report.get("detail", ""))
    return res


def main():
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # BLAS threads do not survive fork()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    spec_path = sys.argv[1] if len(sys.argv) > 1 else SPEC_FILE
    with open(spec_path, encoding="utf-8") as fh:
        spec = json.load(fh)
    os.unlink(spec_path)
    marker = spec["marker"]
    workdir = os.path.abspath(os.getcwd())
    out = {"cases": [], "error": None}
    try:
        code = compile(spec["program"], CANDIDATE, "exec")
    except (SyntaxError, ValueError) as exc:
        detail = "{}: {} (line {})".format(
            type(exc).__name__, getattr(exc, "msg", exc), getattr(exc, "lineno", "?")
        )
        out["cases"] = [
            {
                "index": i,
                "outcome": "syntax_error",
                "detail": detail,
                "stderr_tail": "",
                "wall_s": 0.0,
                "coverage": [],
            }
            for i in range(len(spec["cases"]))
        ]
    else:
        ns = build_namespace(spec["program"])
        # Everything alive now outlives the cases: keep it out of the children's collections
        # (which would otherwise touch, and so copy, those pages in every child).
        gc.freeze()
        for i, case in enumerate(spec["cases"]):
            res = run_case(spec, code, ns, i, case, workdir)
            out["cases"].append(res)
            if spec.get("stop_on_failure") and res["outcome"] != "pass":
                break
    reap_pending(spec)
    sys.stdout.write("\n" + marker + json.dumps(out) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
