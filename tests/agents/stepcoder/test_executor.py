"""The executor in the Docker sandbox: both io modes, each outcome and reward, limits, containment."""

from __future__ import annotations

import socket
import textwrap
import threading

import pytest

from phalanx.agents.stepcoder import Executor, ExecutorConfig, load_problems

pytestmark = pytest.mark.requires_docker


def src(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


async def test_stdin_mode_line_compare_after_strip(executor, make_problem):
    program = src(
        """
        def main():
            n = int(input())
            print(n * 2, "  ")
            print()
            print("end")
        """
    )
    # Trailing spaces and the trailing blank line are stripped; an inner blank line is not.
    p = make_problem("stdin", ["3\n", "4\n"], ["6\n\nend\n", "8\nend\n"], fn_name="main")
    res = await executor.run(p, program)
    assert [c.outcome for c in res.cases] == ["pass", "wrong_answer"]
    assert "line 2" in res.cases[1].detail
    assert res.reward == pytest.approx(-0.3)


async def test_call_mode_function_literals_and_pow(executor, make_problem):
    program = src(
        """
        def f(s, xs, x):
            # pow with three arguments must be the builtin, not math.pow from the prelude.
            return [len(s), [v * 2 for v in xs], x / 3, pow(2, 10, 1000), sqrt(16), List is not None]
        """
    )
    p = make_problem(
        "call",
        [['"ababccc"', [1, 2], 1.0], ['"a"', [], 0]],
        [["[7, [2, 4], 0.3333333333333333, 24, 4.0, True]"], [[1, [], 0.0, 24, 4.0, True]]],
    )
    res = await executor.run(p, program)
    assert res.passed, res.explain()
    assert res.reward == 1.0

    res = await executor.run(p, program.replace("x / 3", "x / 3 + (0.01 if x else 0)"))
    assert [c.outcome for c in res.cases] == ["wrong_answer", "pass"]
    assert "expected" in res.cases[0].detail


# Call-based results and expected outputs as APPS+ stores them (literal source or native values).
RETURNS = ["False", "True", "1", "2.0", "0.1 + 0.2", "(1, 2)", "[1, 2]", "'0'", "[True, 0]"]
EXPECTED = [[0], [1], ["True"], [2], [0.3], ["[1, 2]"], [[1, 2]], [0], ["[1, False]"]]


def stepcoder_official_verdict(returned: str, u_output: list) -> bool:
    """What the StepCoder/APPS+ executor decides: it appends `assert fn(...) == <expected>` to the
    program, the expected value written as `",".join(map(str, u_output))` (MPLSandbox@dd96e06,
    llama_reward_model.py), and a test passes when that assert holds."""
    program = f"def f():\n    return {returned}\nassert f() == " + ",".join(map(str, u_output))
    try:
        exec(compile(program, "<official>", "exec"), {})
    except AssertionError:
        return False
    return True


@pytest.mark.parametrize("compare", ["official", "strict"])
async def test_call_mode_verdicts_follow_the_official_comparison(apps_sandbox, make_problem, compare):
    program = "def f(i):\n    return [" + ", ".join(RETURNS) + "][i]\n"
    p = make_problem("call", [[i] for i in range(len(RETURNS))], EXPECTED)
    res = await Executor(apps_sandbox, ExecutorConfig(compare=compare)).run(p, program)
    got = [c.outcome == "pass" for c in res.cases]
    official = [stepcoder_official_verdict(r, o) for r, o in zip(RETURNS, EXPECTED, strict=True)]
    assert official[:3] == [True, True, True]  # False == 0, True == 1, 1 == True
    if compare == "official":
        assert got == official
    else:
        # Types must match as well: only the list that equals its expected list exactly passes.
        assert got == [False, False, False, False, False, False, True, False, False]
        assert res.cases[0].detail == "returned False, expected 0"


async def test_apps_layout_compares_as_its_testing_util(apps_sandbox, make_problem):
    """Original APPS (native values, testing_util.py): a tuple is taken as a list, the output or its
    first element may match, a list of tuples compares as lists, dict keys come back as ints."""
    returns = ["(1, 2)", "[(1, 2), (3, 4)]", "False", "{1: 'a'}", "5", "(1, 3)"]
    outputs = [[[1, 2]], [[[1, 2], [3, 4]]], [0], [{"1": "a"}], [5], [[1, 2]]]
    program = "def f(i):\n    return [" + ", ".join(returns) + "][i]\n"
    p = make_problem("call", [[i] for i in range(len(returns))], outputs, args_are_literals=False)
    official = await Executor(apps_sandbox).run(p, program)
    assert [c.outcome for c in official.cases] == ["pass"] * 5 + ["wrong_answer"]
    strict = await Executor(apps_sandbox, ExecutorConfig(compare="strict")).run(p, program)
    assert [c.outcome == "pass" for c in strict.cases] == [True, True, False, True, True, False]


async def test_call_mode_solution_method(executor, make_problem):
    program = src(
        """
        class Solution:
            def maxUniqueSplit(self, s: str) -> int:
                seen = set()
                def go(i):
                    if i == len(s):
                        return 0
                    best = -1
                    for j in range(i + 1, len(s) + 1):
                        if s[i:j] not in seen:
                            seen.add(s[i:j])
                            r = go(j)
                            if r >= 0:
                                best = max(best, r + 1)
                            seen.discard(s[i:j])
                    return best
                return go(0)
        """
    )
    p = make_problem("call", [['"ababccc"'], ['"aba"']], [[5], [2]], fn_name="maxUniqueSplit")
    res = await executor.run(p, program)
    assert res.passed, res.explain()


async def test_each_outcome_and_reward(executor, make_problem):
    p = make_problem("call", [[1], [2], [3]], [[1], [2], [3]])
    cases = {
        "pass": ("def f(x):\n    return x\n", 1.0),
        "wrong_answer": ("def f(x):\n    return x if x < 2 else 0\n", -0.3),
        "runtime_error": ("def f(x):\n    return {}['missing-key']\n", -0.6),
        "timeout": ("def f(x):\n    while True:\n        pass\n", -0.6),
        "memory_limit": ("def f(x):\n    return len(bytearray(2 << 30))\n", -0.6),
        "syntax_error": ("def f(x)\n    return x\n", -1.0),
    }
    for outcome, (program, reward) in cases.items():
        res = await executor.run(p, program, stop_on_failure=True)
        first = res.first_failure.outcome if res.first_failure else "pass"
        assert first == outcome, (outcome, res.explain())
        assert res.reward == pytest.approx(reward)
    res = await executor.run(p, cases["runtime_error"][0])
    assert "KeyError" in res.cases[0].detail
    assert "missing-key" in res.cases[0].stderr_tail  # the last stderr lines come back
    assert len(res.cases) == 3  # without stop_on_failure every case runs


async def test_first_failing_case_decides(executor, make_problem):
    program = src(
        """
        def f(x):
            if x == 2:
                return -1
            if x == 3:
                raise ValueError("boom")
            return x
        """
    )
    res = await executor.run(make_problem("call", [[1], [2], [3]], [[1], [2], [3]]), program)
    assert [c.outcome for c in res.cases] == ["pass", "wrong_answer", "runtime_error"]
    assert res.first_failure.index == 1 and res.reward == pytest.approx(-0.3)


async def test_timeout_kills_the_processes_the_program_started(executor, make_problem):
    program = src(
        """
        import os, subprocess, sys
        def main():
            cmd = input().strip()
            if cmd == "spawn":
                child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
                open("pid.txt", "w").write(str(child.pid))
                while True:
                    pass
            pid = int(open("pid.txt").read())
            try:
                state = open(f"/proc/{pid}/status").read().split("State:")[1].split()[0]
            except FileNotFoundError:
                state = "gone"
            print("dead" if state in ("gone", "Z") else "alive " + state)
        """
    )
    p = make_problem("stdin", ["spawn\n", "check\n"], ["", "dead\n"], fn_name="main")
    res = await executor.run(p, program)
    assert res.cases[0].outcome == "timeout"
    assert res.cases[1].outcome == "pass", res.cases[1].detail


async def test_sleeping_program_hits_the_wall_clock_backstop(executor, make_problem):
    p = make_problem("stdin", ["\n"], ["x\n"], fn_name="main")
    res = await executor.run(p, "import time\ndef main():\n    time.sleep(60)\n")
    assert res.cases[0].outcome == "timeout" and "wall-clock" in res.cases[0].detail
    assert res.wall_s < 30


async def test_huge_output_is_cut_off_quickly(executor, make_problem):
    p = make_problem("stdin", ["\n"], ["x\n"], fn_name="main")
    res = await executor.run(
        p, "import sys\ndef main():\n    while True:\n        sys.stdout.write('x' * 65536)\n"
    )
    assert res.cases[0].outcome == "wrong_answer"
    assert "output exceeded" in res.cases[0].detail
    assert res.wall_s < 30


async def test_files_and_network_are_contained(executor, make_problem):
    # A server on the host's loopback: the program must not reach it from the sandbox.
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    server.settimeout(0.2)
    hits: list[int] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            hits.append(1)
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    program = src(
        f"""
        import os, socket
        def main():
            what = input().strip()
            if what == "net":
                try:
                    socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
                    print("connected")
                except OSError:
                    print("blocked")
            elif what == "spec":
                print("readable" if os.path.exists("stepcoder_spec.json") else "hidden")
            else:
                print("readable" if os.path.exists("/work/shared") else "hidden")
        """
    )
    p = make_problem(
        "stdin", ["net\n", "spec\n", "host\n"], ["blocked\n", "hidden\n", "hidden\n"], fn_name="main"
    )
    res = await executor.run(p, program)
    stop.set()
    thread.join(timeout=5)
    server.close()
    assert res.passed, [c.detail for c in res.cases]
    assert hits == []


async def test_coverage_reports_executed_lines(executor, make_problem):
    program = "def f(x):\n    if x < 0:\n        return -x\n    return x\n"
    p = make_problem("call", [[1], [2]], [[1], [2]])
    res = await executor.run(p, program, coverage=True)
    assert res.passed
    assert 3 not in res.coverage and {1, 2, 4} <= set(res.coverage)


async def test_numpy_canonical_solutions_pass(apps_sandbox, sample_path):
    problems = [p for p in load_problems(sample_path) if "numpy" in p.canonical_solution]
    assert problems, "the sample has numpy solutions"
    ex = Executor(apps_sandbox, ExecutorConfig())
    for p in problems[:2]:
        res = await ex.run(p, p.canonical_solution)
        assert res.passed, res.explain()
