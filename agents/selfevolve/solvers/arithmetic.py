"""An independent evaluator for the embedded arithmetic word problems.

It reads each sentence into an arithmetic step with regular expressions, builds an
expression string and evaluates it with a small AST walker (no `eval`). It shares no
code with `embedded/arithmetic.py`, which tracks the running total while it writes.
"""

from __future__ import annotations

import ast
import operator
import re

_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.FloorDiv: operator.floordiv}

_STEP_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b(\d+) (?:boxes|bags|packs) (?:with|of) (\d+)\b"), "+{0}*{1}"),
    (re.compile(r"\b(?:buys|finds|gets|wins|picks up|purchases another|collects) (\d+)\b"), "+{0}"),
    (re.compile(r"\bgives (?:him|her) (\d+)\b"), "+{0}"),
    (re.compile(r"\b(?:gives away|gives|loses|eats|misplaces|hands over|donates) (\d+)\b"), "-{0}"),
    (re.compile(r"\bdoubles\b"), "*2"),
    (re.compile(r"\btriples\b"), "*3"),
]
_START = re.compile(r"^([A-Z][a-z]+) (?:has|starts with|owns) (\d+) ([a-z]+)")
_QUESTION_NOW = re.compile(r"How many ([a-z]+) does ([A-Z][a-z]+) have now\?")
_QUESTION_BEFORE = re.compile(r"How many ([a-z]+) did ([A-Z][a-z]+) have before the last step\?")
_QUESTION_MORE_BOXES = re.compile(r"If [a-z]+ then buys (\d+) more (?:boxes|bags|packs) with (\d+)")


def evaluate_expression(expr: str) -> int:
    """Evaluate an integer expression of + - * // and parentheses.

    Raises:
        ValueError: anything else appears in the expression.
    """

    def walk(node: ast.AST) -> int:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](walk(node.left), walk(node.right))
        raise ValueError(f"unsupported expression element {ast.dump(node)}")

    return walk(ast.parse(expr, mode="eval"))


def problem_steps(context: str) -> list[tuple[str, str]]:
    """(sentence, expression fragment) for every sentence that changes the count; the first is the start."""
    steps: list[tuple[str, str]] = []
    for sentence in re.findall(r"[^.?!]+[.?!]", context):
        s = sentence.strip()
        if not steps:
            m = _START.search(s)
            if m:
                steps.append((s, m.group(2)))
            continue
        for pattern, fragment in _STEP_PATTERNS:
            m = pattern.search(s)
            if m:
                steps.append((s, fragment.format(*m.groups())))
                break
    return steps


def build_expression(fragments: list[str]) -> str:
    """Nest fragments left to right: `((12+5)-3)*2`."""
    expr = fragments[0]
    for frag in fragments[1:]:
        expr = f"({expr}){frag}"
    return expr


def solve_arithmetic(context: str, question: str) -> int | None:
    """Answer an embedded arithmetic question about `context`, or None if it is not understood."""
    steps = problem_steps(context)
    if not steps:
        return None
    fragments = [f for _, f in steps]
    if _QUESTION_BEFORE.search(question):
        if len(fragments) < 2:
            return None
        fragments = fragments[:-1]
    elif m := _QUESTION_MORE_BOXES.search(question):
        fragments = [*fragments, f"+{m.group(1)}*{m.group(2)}"]
    elif not _QUESTION_NOW.search(question):
        return None
    return evaluate_expression(build_expression(fragments))
