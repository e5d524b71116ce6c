"""Output-stage guards (ToolSword HF and EC): harmful tool feedback and checkably wrong tool results.

Both run on each tool result (`GuardContext.result`) and on the final answer
(`GuardContext.text` with `result=None`).
"""

from __future__ import annotations

import math
import re
from functools import cache

from phalanx.policies import seeds as lex
from phalanx.policies.arithmetic import check_claims, find_claims, safe_eval, sandbox_eval
from phalanx.policies.consistency import JObject, check_structured, parse_lenient
from phalanx.policies.embedder import PrototypeIndex, SentenceEmbedder
from phalanx.policies.guard import Guard, GuardResources, register_guard
from phalanx.policies.harm_corpus import HarmCorpusIndex
from phalanx.policies.judge_guard import ModelJudgeGuard, with_judge
from phalanx.policies.seeds import SeedSet
from phalanx.policies.text import flatten_output, split_sentences
from phalanx.policies.types import Finding, GuardContext, Stage

ERROR_MARK = "[phalanx: tool result failed a consistency check"
"""Prefix of the note the error-conflict guard attaches (lets the answer check see earlier flags)."""


def _prose_of(text: str) -> str:
    """The prose inside a structured (JSON-like) result: its string values of three words or more.

    API records (weather, prices) hold numbers and short labels; embedding their punctuation-split
    fragments costs time and finds nothing, so only real sentences are kept.
    """
    stripped = text.lstrip()
    if not stripped.startswith("{"):
        return text
    try:
        tree, _ = parse_lenient(stripped)
    except ValueError:
        return text
    found: list[str] = []

    def visit(node) -> None:
        if isinstance(node, JObject):
            for _, v in node.pairs:
                visit(v)
        elif isinstance(node, list):
            for v in node:
                visit(v)
        elif isinstance(node, str) and len(node.split()) >= 3:
            found.append(node)

    visit(tree)
    return "\n".join(found)


class HarmfulFeedbackGuard(Guard):
    """Flags tool outputs (and answers) that contain harmful content, sentence by sentence.

    Rules: statement-form instructions for harm ("the easiest way to kill ..."). Embeddings:
    a sentence closer than `threshold` to a harmful-content (or harmful-request) prototype and
    closer to it than to every benign prototype by `margin`. Corpus: with `corpus` (a
    `HarmCorpusIndex`), every run of 1-3 statements whose nearest-neighbour score reaches the
    index's calibrated threshold. `spans` lists the flagged sentences, so `redact` can drop
    exactly those.
    """

    name = "harmful_feedback"
    stage = Stage.OUTPUT

    def __init__(
        self,
        embedder: SentenceEmbedder,
        seeds: SeedSet,
        threshold: float,
        margin: float,
        corpus: HarmCorpusIndex | None = None,
    ) -> None:
        harmful = {f"content:{k}": v for k, v in seeds.harmful_content.items()}
        harmful.update({f"request:{k}": v for k, v in seeds.harmful_requests.items()})
        benign = dict(seeds.benign_content)
        benign.update({f"request:{k}": v for k, v in seeds.benign_requests.items()})
        self.harmful = PrototypeIndex(embedder, harmful)
        self.benign = PrototypeIndex(embedder, benign)
        self.threshold = threshold
        self.margin = margin
        self.embedder = embedder
        self.corpus = corpus

    @staticmethod
    def _rule(s: str) -> str | None:
        """The rule category that flags sentence `s`, if any (cheap lexical and structural cues)."""
        defensive = lex.DEFENSIVE.search(s)
        if lex.HARMFUL_STATEMENT.search(s) or (
            lex.INSTRUCTION_CUE.search(s) and lex.HARM_TERMS.search(s) and not defensive
        ):
            return "harm-instructions"
        if lex.TOXIC.search(s):
            return "toxic-language"
        if lex.HATEFUL_GENERALISATION.search(s):
            return "hate"
        if defensive:
            return None
        if lex.ADULT.search(s) and not lex.ADULT_MODERATION.search(s):
            return "sexual-content"
        if lex.UNQUALIFIED_ADVICE.search(s) and not (
            lex.DEFERS_TO_PROFESSIONAL.search(s)
            and not re.search(r"(?i)\b(?:don'?t|do not|no need|never|skip|bother)\b", s)
        ):
            return "unqualified-advice"
        # Structural: an instruction (imperative, or "you can/should") to do harm to a person.
        if lex.HARM_TO_PERSON.search(s) and (lex.IMPERATIVE_START.search(s) or lex.INSTRUCTION_CUE.search(s)):
            return "harm-to-person"
        if lex.IMPERATIVE_ANY.search(s) and (lex.CRIME_OBJECTS.search(s) or lex.RUMOUR.search(s)):
            return "crime-instructions"
        return None

    async def check(self, ctx: GuardContext) -> Finding:
        text = flatten_output(ctx.result if ctx.result is not None else ctx.text)
        # Short lines are kept: toxic one-liners ("Go to hell.") are short.
        sentences = [
            s for s in split_sentences(_prose_of(text), max_sentences=48) if len(s.strip(" .!?\"'")) > 3
        ]
        if not sentences:
            return Finding.clean("no text")
        flagged: list[str] = []
        best, category = 0.0, None
        for s in sentences:
            rule = self._rule(s)
            if rule:
                flagged.append(s)
                best, category = 1.0, rule
        for s, (label, h, _), (_, b, _) in zip(
            sentences, self.harmful.best(sentences), self.benign.best(sentences), strict=True
        ):
            if lex.DEFENSIVE.search(s):
                h -= 0.1  # same vocabulary, protective intent
            if h >= self.threshold and h - b >= self.margin and s not in flagged:
                flagged.append(s)
                if h > best or category is None:
                    best, category = max(best, h), label
        if self.corpus is not None:
            top, new = self.corpus.flag_passage(text, sentences, self.embedder)
            new = [x for x in new if x not in flagged]
            if new:
                flagged.extend(new)
                if category is None:
                    best, category = top, "harm-corpus"
        if flagged:
            return Finding(
                flagged=True,
                score=best,
                category=category,
                spans=flagged,
                reason=f"{len(flagged)} of {len(sentences)} sentences are harmful ({category})",
            )
        return Finding(flagged=False, score=best, reason="no harmful content")


class ErrorConflictGuard(Guard):
    """Flags tool results that are checkably wrong or contradict themselves.

    Checks: arithmetic claims recomputed (in `sandbox` when given, else a safe AST evaluator),
    the call's own arithmetic expression vs the number the result states, and structured results
    checked for internal consistency (`phalanx.policies.consistency`). On the final answer it flags
    an answer built on a flagged result that does not say so. Factual errors need the model-judge
    variant (`judge:` in the policy).
    """

    name = "error_conflict"
    stage = Stage.OUTPUT

    def __init__(self, sandbox=None) -> None:
        self.sandbox = sandbox

    async def _evaluate(self, expr: str) -> float:
        if self.sandbox is not None:
            try:
                return await sandbox_eval(self.sandbox, expr)
            except Exception:  # sandbox busy or gone: the AST evaluator gives the same number
                pass
        return safe_eval(expr)

    async def check(self, ctx: GuardContext) -> Finding:
        if ctx.result is None:
            return self._check_answer(ctx)
        content = ctx.result
        issues: list[str] = []
        text = flatten_output(content)
        for claim in check_claims(text):
            actual = await self._evaluate(claim.expression) if self.sandbox is not None else claim.actual
            if not math.isclose(claim.claimed, actual, rel_tol=1e-3, abs_tol=0.01):
                issues.append(f"{claim.expression} = {actual:g}, not {claim.claimed:g}")
        if not issues:
            issues.extend(await self._args_arithmetic(ctx, text))
        issues.extend(check_structured(content, ctx.arguments))
        if issues:
            return Finding(
                flagged=True,
                score=1.0,
                category="arithmetic" if "=" in issues[0] else "inconsistent",
                reason="; ".join(issues[:4]) + (f" (+{len(issues) - 4} more)" if len(issues) > 4 else ""),
                spans=issues,
            )
        return Finding.clean("no checkable error")

    async def _args_arithmetic(self, ctx: GuardContext, text: str) -> list[str]:
        # A calculator call: the argument holds the expression, the result one number.
        import re

        for value in ctx.arguments.values():
            if not isinstance(value, str) or not find_claims(value + " = 0"):
                continue
            try:
                actual = await self._evaluate(value)
            except Exception:
                continue
            numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", text)]
            stated = numbers[-1] if numbers else None
            if stated is not None and not math.isclose(stated, actual, rel_tol=1e-3, abs_tol=0.01):
                return [f"{value.strip()} = {actual:g}, but the tool says {stated:g}"]
        return []

    @staticmethod
    def _check_answer(ctx: GuardContext) -> Finding:
        flagged = [r for r in ctx.tool_results if ERROR_MARK in r]
        answer = ctx.text or ""
        warned = any(
            w in answer.lower()
            for w in (
                "consistency check",
                "incorrect",
                "inconsistent",
                "wrong",
                "contradict",
                "cannot be verified",
                "unreliable",
                "error",
            )
        )
        if flagged and not warned:
            return Finding(
                flagged=True,
                score=1.0,
                category="unflagged-error",
                reason="the answer relies on a tool result that failed a consistency check without saying so",
            )
        return Finding.clean("answer does not hide a flagged result")


@cache
def _harm_index(path: str | None) -> HarmCorpusIndex:
    return HarmCorpusIndex.load(path)


@register_guard("harmful_feedback", Stage.OUTPUT)
def _build_hf(config, res: GuardResources) -> Guard:
    """Options: `harm_index` — `default` (the shipped `HarmCorpusIndex`), a path to one, or `none` (the default)."""
    index_opt = str(config.options.get("harm_index", "none"))
    corpus = (
        None if index_opt.lower() == "none" else _harm_index(None if index_opt == "default" else index_opt)
    )
    guard = HarmfulFeedbackGuard(
        res.embedder,
        res.seeds,
        threshold=config.threshold if config.threshold is not None else 0.55,
        margin=config.margin if config.margin is not None else 0.04,
        corpus=corpus,
    )
    return with_judge(guard, config, res, ModelJudgeGuard.HARMFUL_FEEDBACK)


@register_guard("error_conflict", Stage.OUTPUT)
def _build_ec(config, res: GuardResources) -> Guard:
    sandbox = res.sandbox if config.options.get("sandbox", True) else None
    return with_judge(ErrorConflictGuard(sandbox), config, res, ModelJudgeGuard.ERROR_CONFLICT)
