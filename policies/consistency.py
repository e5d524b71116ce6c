"""Internal-consistency checks of structured tool results (ToolSword EC / conflicting feedback).

Real APIs return JSON that agrees with itself; a result that repeats a key with another
value, converts units wrongly (temp_c vs temp_f), puts a minimum above its maximum, names a
time zone that does not exist, or echoes other arguments than the call sent is checkably
wrong whatever the facts are. The parser is lenient so malformed JSON can still be checked.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any


@dataclass
class JObject:
    """A JSON object that keeps duplicate keys (as ordered pairs)."""

    pairs: list[tuple[str, Any]] = field(default_factory=list)


class _Parser:
    """Tolerant JSON reader: accepts missing / trailing commas and stray braces, records each repair."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.repairs: list[str] = []

    def ws(self) -> None:
        while self.i < len(self.s) and self.s[self.i] in " \t\r\n":
            self.i += 1

    def peek(self) -> str:
        self.ws()
        return self.s[self.i] if self.i < len(self.s) else ""

    def value(self, depth: int = 0) -> Any:
        if depth > 60:
            raise ValueError("nesting too deep")
        c = self.peek()
        if c == "{":
            return self.obj(depth)
        if c == "[":
            return self.arr(depth)
        if c == '"':
            return self.string()
        m = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null").match(self.s, self.i)
        if not m:
            raise ValueError(f"unexpected {self.s[self.i : self.i + 20]!r} at {self.i}")
        self.i = m.end()
        tok = m.group(0)
        return (
            {"true": True, "false": False, "null": None}.get(tok, None)
            if tok in ("true", "false", "null")
            else (float(tok) if any(ch in tok for ch in ".eE") else int(tok))
        )

    def string(self) -> str:
        m = re.compile(r'"((?:[^"\\]|\\.)*)"').match(self.s, self.i)
        if not m:
            raise ValueError(f"unterminated string at {self.i}")
        self.i = m.end()
        try:
            return json.loads(m.group(0))
        except ValueError:
            return m.group(1)

    def obj(self, depth: int) -> JObject:
        self.i += 1
        out = JObject()
        expect_comma = False
        while True:
            c = self.peek()
            if c == "":
                self.repairs.append("object not closed")
                return out
            if c == "}":
                self.i += 1
                return out
            if c == ",":
                self.i += 1
                if self.peek() == "}":
                    self.repairs.append("trailing comma")
                expect_comma = False
                continue
            if expect_comma:
                self.repairs.append(f"missing comma at {self.i}")
            if c == "{":  # a stray brace where a key belongs: merge its pairs into this object
                self.repairs.append(f"stray '{{' inside an object at {self.i}")
                inner = self.obj(depth + 1)
                out.pairs.extend(inner.pairs)
                expect_comma = True
                continue
            if c != '"':
                raise ValueError(f"expected a key at {self.i}")
            key = self.string()
            if self.peek() == ":":
                self.i += 1
            else:
                self.repairs.append(f"missing ':' after {key!r}")
            out.pairs.append((key, self.value(depth + 1)))
            expect_comma = True

    def arr(self, depth: int) -> list[Any]:
        self.i += 1
        out: list[Any] = []
        while True:
            c = self.peek()
            if c == "":
                self.repairs.append("array not closed")
                return out
            if c == "]":
                self.i += 1
                return out
            if c == ",":
                self.i += 1
                continue
            out.append(self.value(depth + 1))


def parse_lenient(text: str) -> tuple[Any, list[str]]:
    """Parse JSON-like `text`; returns (tree with `JObject`s, list of repairs). Raises ValueError."""
    p = _Parser(text)
    tree = p.value()
    if p.peek() not in ("",):
        p.repairs.append(f"extra data after position {p.i}")
    return tree, p.repairs


def _plain(v: Any) -> Any:
    if isinstance(v, JObject):
        return {k: _plain(x) for k, x in v.pairs}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def _norm_key(key: str) -> str:
    # "3. low" / "1: Symbol" / "Body Fat (U.S. Navy Method)" -> "low" / "symbol" / "body fat (u.s. navy method)"
    return re.sub(r"^\s*\d+\s*[.:]\s*", "", key).strip().lower()


def _num(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str) and re.fullmatch(r"\s*-?\d+(?:\.\d+)?\s*", v):
        return float(v)
    return None


# (stem suffix a, stem suffix b, convert a->b, absolute tolerance, relative tolerance)
_UNIT_PAIRS = [
    ("_c", "_f", lambda c: c * 9 / 5 + 32, 1.5, 0.0),
    ("_kph", "_mph", lambda k: k / 1.609344, 0.6, 0.05),
    ("_mb", "_in", lambda mb: mb * 0.0295300, 0.06, 0.0),
    ("_mm", "_in", lambda mm: mm / 25.4, 0.03, 0.1),
    ("_km", "_miles", lambda km: km * 0.621371, 1.0, 0.1),
    ("_kg", "_lb", lambda kg: kg * 2.20462, 0.5, 0.02),
]
_PERCENT_KEYS = re.compile(r"(humidity|cloud|chance_of_\w+|percent\w*)$")


@cache
def _timezones() -> frozenset[str]:
    try:
        import zoneinfo

        return frozenset(zoneinfo.available_timezones())
    except Exception:  # no tz database: skip this check rather than guess
        return frozenset()


def _check_object(obj: JObject, where: str, issues: list[str]) -> None:
    seen: dict[str, Any] = {}
    for key, value in obj.pairs:
        if key in seen and _plain(seen[key]) != _plain(value):
            issues.append(
                f"{where}{key!r} appears twice with different values ({_short(seen[key])} vs {_short(value)})"
            )
        seen.setdefault(key, value)
    flat = {_norm_key(k): v for k, v in obj.pairs}
    nums: dict[str, float] = {k: n for k, v in flat.items() if (n := _num(v)) is not None}
    for a_suf, b_suf, conv, abs_tol, rel_tol in _UNIT_PAIRS:
        for key, a in nums.items():
            if not key.endswith(a_suf):
                continue
            other = key[: -len(a_suf)] + b_suf
            if other in nums:
                expected, got = conv(a), nums[other]
                if abs(expected - got) > max(abs_tol, rel_tol * abs(expected)):
                    issues.append(f"{where}{key}={a:g} implies {other}~{expected:.1f}, but it is {got:g}")
    for key, lo in nums.items():
        if key.startswith("min"):
            hi = nums.get("max" + key[3:])
            if hi is not None and lo > hi:
                issues.append(f"{where}{key}={lo:g} is above max{key[3:]}={hi:g}")
    if {"low", "high"} <= nums.keys():
        lo, hi = nums["low"], nums["high"]
        for k in ("open", "close"):
            if k in nums and not lo - 1e-9 <= nums[k] <= hi + 1e-9:
                issues.append(f"{where}{k}={nums[k]:g} lies outside low..high ({lo:g}..{hi:g})")
    for key, v in nums.items():
        if _PERCENT_KEYS.search(key) and not 0 <= v <= 100:
            issues.append(f"{where}{key}={v:g} is not a percentage")
        if key in ("lat", "latitude") and not -90 <= v <= 90:
            issues.append(f"{where}{key}={v:g} is not a latitude")
        if key in ("lon", "lng", "longitude") and not -180 <= v <= 180:
            issues.append(f"{where}{key}={v:g} is not a longitude")
        if key == "pressure_mb" and not 850 <= v <= 1100:
            issues.append(f"{where}pressure_mb={v:g} is outside any observed sea-level pressure")
    zones = _timezones()
    for key, v in flat.items():
        if zones and key in ("tz_id", "timezone", "time_zone", "tz") and isinstance(v, str) and "/" in v:
            if v not in zones:
                issues.append(f"{where}{key}={v!r} is not a real time zone")


def _check_list(items: list[Any], where: str, issues: list[str]) -> None:
    by_id: dict[tuple[str, Any], Any] = {}
    for item in items:
        if not isinstance(item, JObject):
            continue
        for k, v in item.pairs:
            if _norm_key(k) in ("date", "id", "time", "timestamp") and isinstance(v, str | int):
                ident = (k, v)
                if ident in by_id and _plain(by_id[ident]) != _plain(item):
                    issues.append(f"{where}two entries for {k}={v!r} disagree")
                by_id.setdefault(ident, item)
                break


def _walk(node: Any, where: str, issues: list[str]) -> None:
    if isinstance(node, JObject):
        _check_object(node, where, issues)
        for k, v in node.pairs:
            _walk(v, f"{where}{k}.", issues)
    elif isinstance(node, list):
        _check_list(node, where, issues)
        for i, v in enumerate(node):
            _walk(v, f"{where}[{i}].", issues)


def _echo_issues(tree: Any, arguments: dict[str, Any]) -> list[str]:
    """Arguments the result echoes under a matching key must agree with the call."""
    wanted = {
        frozenset(re.findall(r"[a-z]+", k.lower())): str(v)
        for k, v in arguments.items()
        if isinstance(v, str) and 0 < len(v) <= 40
    }
    issues: list[str] = []

    def visit(node: Any) -> None:
        if isinstance(node, JObject):
            for k, v in node.pairs:
                if isinstance(v, str):
                    ktoks = frozenset(re.findall(r"[a-z]+", _norm_key(k)))
                    exact = ktoks in wanted
                    for atoks, av in wanted.items():
                        if (
                            ktoks
                            and (ktoks == atoks or (not exact and ktoks <= atoks))
                            and av.lower() not in v.lower()
                            and v.lower() not in av.lower()
                        ):
                            issues.append(
                                f"the call asked for {'_'.join(sorted(atoks))}={av!r} but the result reports {k!r}={v!r}"
                            )
                visit(v)
        elif isinstance(node, list):
            for v in node:
                visit(v)

    visit(tree)
    return issues


def _short(v: Any) -> str:
    text = json.dumps(_plain(v))
    return text if len(text) <= 60 else text[:57] + "..."


def check_structured(content: str, arguments: dict[str, Any] | None = None) -> list[str]:
    """Every internal inconsistency found in a JSON-like tool result (empty when none / not JSON)."""
    text = (content or "").strip()
    if not text or text[0] not in "{[":
        return []
    try:
        tree, repairs = parse_lenient(text)
    except ValueError as exc:
        return [f"structured result cannot be parsed ({exc})"]
    if isinstance(tree, list) and all(isinstance(x, str) for x in tree):
        return []  # a list of strings is prose, not a record
    issues: list[str] = []
    try:
        json.loads(text)
    except ValueError:
        issues.append("structured result is not valid JSON (" + "; ".join(repairs[:3]) + ")")
    _walk(tree, "", issues)
    issues.extend(_echo_issues(tree, arguments or {}))
    return list(dict.fromkeys(issues))
