"""Re-computing arithmetic claims in tool outputs ("(36 + 2^6) / 4 is 54" -> 25, wrong).

Expressions are evaluated by a small AST evaluator (numbers and + - * / // % ** only,
bounded exponents) or, when a sandbox is given, by running them in it.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from dataclasses import dataclass

_OPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}


class UnsafeExpression(ValueError):
    """The expression uses something other than numbers and arithmetic."""


def safe_eval(expr: str) -> float:
    """Evaluate an arithmetic expression without `eval`.

    Raises:
        UnsafeExpression: names, calls, huge powers or anything but arithmetic.
        ZeroDivisionError: division by zero.
    """
    try:
        tree = ast.parse(normalize_expression(expr), mode="eval")
    except SyntaxError as exc:
        raise UnsafeExpression(f"not an arithmetic expression: {expr!r}") from exc

    def ev(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, int | float)
            and not isinstance(node.value, bool)
        ):
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            v = ev(node.operand)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            left, right = ev(node.left), ev(node.right)
            if isinstance(node.op, ast.Pow) and (abs(right) > 64 or abs(left) > 1e6):
                raise UnsafeExpression("exponent too large")
            return _OPS[type(node.op)](left, right)
        raise UnsafeExpression(f"unsupported element {type(node).__name__} in {expr!r}")

    return float(ev(tree))


def normalize_expression(expr: str) -> str:
    """Map everyday notation to Python: ^ -> **, x/× -> *, ÷ -> /, LaTeX \\( \\) and \\times."""
    s = expr.replace("\\times", "*").replace("\\div", "/").replace("\\cdot", "*")
    s = s.replace("\\(", " ").replace("\\)", " ").replace("×", "*").replace("÷", "/").replace("−", "-")
    s = s.replace("^", "**")
    return s.strip().rstrip(".=?")


# An arithmetic expression: digits, operators, parentheses, at least one operator.
_EXPR = r"(?P<expr>[-+(\\]*\s*\d[\d\s.+\-*/^()×÷x\\a-z]*?[\d)])"
_CLAIM = re.compile(
    _EXPR.replace("a-z", "timesdv")
    + r"\s*\\?\)?\s*(?:is|=|equals|equal to|gives|results in)\s*(?:approximately\s*)?"
    r"(?P<value>-?\d+(?:\.\d+)?)",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class ArithmeticClaim:
    expression: str
    claimed: float
    actual: float

    @property
    def is_wrong(self) -> bool:
        return not math.isclose(self.claimed, self.actual, rel_tol=1e-3, abs_tol=0.01)


def find_claims(text: str) -> list[tuple[str, float]]:
    """(expression, claimed value) pairs stated in `text` ("... 4 + 5 - 2^3 is 2")."""
    out = []
    for m in _CLAIM.finditer(text):
        expr = m.group("expr")
        if not re.search(r"\d\s*(?:[-+*/^×÷]|\\times|\\div)\s*[-(\d\\]", expr):
            continue  # a lone number ("in 1905 is ...") is no calculation
        expr = expr.replace("\\(", "").strip()
        expr += ")" * max(0, expr.count("(") - expr.count(")"))  # the lazy match may leave one off
        out.append((expr, float(m.group("value"))))
    return out


def check_claims(text: str) -> list[ArithmeticClaim]:
    """Every checkable arithmetic claim in `text`, recomputed with `safe_eval`."""
    claims = []
    for expr, value in find_claims(text):
        try:
            actual = safe_eval(expr)
        except (UnsafeExpression, ZeroDivisionError, OverflowError):
            continue
        claims.append(ArithmeticClaim(expr.strip(), value, actual))
    return claims


async def sandbox_eval(sandbox, expr: str) -> float:
    """Evaluate `expr` by running it in a `phalanx.sandbox.Sandbox` (validated by `safe_eval` first)."""
    from phalanx.sandbox import run_python

    safe_eval(expr)  # refuse anything that is not plain arithmetic before it reaches the sandbox
    result = await run_python(sandbox, f"print(float({normalize_expression(expr)}))")
    if result.exit_code != 0:
        raise UnsafeExpression(f"sandbox could not evaluate {expr!r}: {result.stderr[-200:]}")
    return float(result.stdout.strip().splitlines()[-1])
