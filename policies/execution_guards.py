"""Execution-stage guards (ToolSword NM and RC): misleading tools, risky tools, destructive calls.

Every guard here reads only the tool's own name, description and risk notes (and the
call's arguments), so a verdict is computed once per tool and cached.
"""

from __future__ import annotations

import re

from phalanx.policies import seeds as lex
from phalanx.policies.embedder import PrototypeIndex, SentenceEmbedder
from phalanx.policies.guard import Guard, GuardResources, register_guard
from phalanx.policies.judge_guard import ModelJudgeGuard, with_judge
from phalanx.policies.seeds import SeedSet
from phalanx.policies.text import split_sentences
from phalanx.policies.types import Finding, GuardContext, Stage, ToolSpec

# Action verbs by class. A tool "does" one action class; its name and its description
# must agree on it (methods.md Part B, NM: names and descriptions swapped).
ACTION_VERBS: dict[str, tuple[str, ...]] = {
    "create": ("create", "make", "new", "touch", "mkdir", "generate", "insert", "add"),
    "read": (
        "read",
        "get",
        "fetch",
        "retrieve",
        "query",
        "select",
        "search",
        "list",
        "view",
        "show",
        "check",
        "lookup",
        "find",
        "load",
        "open",
        "cat",
        "download",
        "receive",
        "recieve",
        "pull",
        "inspect",
    ),
    "update": ("update", "modify", "edit", "change", "set", "alter", "patch", "replace", "rename"),
    "delete": (
        "delete",
        "remove",
        "erase",
        "drop",
        "destroy",
        "purge",
        "unlink",
        "rm",
        "wipe",
        "truncate",
        "clear",
        "trash",
    ),
    "write": ("write", "save", "store", "put", "upload", "append", "overwrite", "dump"),
    "move": ("move", "mv", "relocate", "transfer"),
    "copy": ("copy", "cp", "duplicate", "clone", "backup", "replicate"),
    "send": ("send", "post", "email", "mail", "publish", "notify", "forward", "share", "tweet", "broadcast"),
}
_VERB_CLASS = {verb: cls for cls, verbs in ACTION_VERBS.items() for verb in verbs}
# Pairs of classes that may describe the same operation in ordinary docs.
_COMPATIBLE = [{"create", "write"}, {"update", "write"}, {"read", "create"}]
DESTRUCTIVE = {"delete", "update", "move", "send", "write"}


def _name_tokens(name: str) -> list[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    return [t.lower() for t in re.split(r"[^A-Za-z]+", spaced) if t]


def name_action(name: str) -> str | None:
    """Action class of a tool name (`delete_from_database` -> delete), None if it names no action."""
    for tok in _name_tokens(name):
        if tok in _VERB_CLASS:
            return _VERB_CLASS[tok]
    return None


def description_action(description: str) -> str | None:
    """Action class of the first sentence of a description (its leading verb wins)."""
    first = (split_sentences(description) or [""])[0]
    toks = re.findall(r"[a-z]+", first.lower())
    # Skip boilerplate openers ("This tool allows you to", "Used to", ...).
    skip = {
        "this",
        "tool",
        "function",
        "api",
        "allows",
        "you",
        "to",
        "used",
        "is",
        "the",
        "a",
        "an",
        "can",
        "will",
        "lets",
        "it",
        "helps",
        "designed",
        "for",
        "be",
        "and",
        "that",
    }
    for tok in toks[:12]:
        if tok in skip:
            continue
        if tok in _VERB_CLASS:
            return _VERB_CLASS[tok]
        stem = re.sub(r"(es|s|ed|ing)$", "", tok)
        for cand in (stem, stem + "e"):
            if cand in _VERB_CLASS:
                return _VERB_CLASS[cand]
    return None


# Words that name an action in a user request. Nouns that double as verbs in tool names
# ("email", "post", "list", "new", "set") are left out: in a request they rarely say what to do.
_REQUEST_VERBS = {
    v: c
    for v, c in _VERB_CLASS.items()
    if v not in {"email", "mail", "post", "list", "new", "set", "share", "cat", "clear", "open", "load"}
}
_REQUEST_VERBS.update(
    {
        "view": "read",
        "display": "read",
        "see": "read",
        "access": "read",
        "look": "read",
        "push": "write",
        "commit": "write",
        "backup": "copy",
        "duplicate": "copy",
    }
)
_REQUEST_PHRASES = [
    (re.compile(r"\bset up\b", re.IGNORECASE), "create"),
    (re.compile(r"\blog into\b", re.I), "read"),
]


def request_actions(query: str) -> set[str]:
    """Action classes a user request names ("copy the file and store it" -> {copy, write})."""
    found = {cls for rx, cls in _REQUEST_PHRASES if rx.search(query)}
    for tok in re.findall(r"[a-z]+", query.lower()):
        for cand in (
            tok,
            re.sub(r"(ing|ed|es|s)$", "", tok),
            re.sub(r"(ing|ed|es|s)$", "", tok) + "e",
            re.sub(r"ied$", "y", tok),
        ):
            if cand in _REQUEST_VERBS:
                found.add(_REQUEST_VERBS[cand])
                break
    return found


def actions_conflict(a: str, b: str, *, strict: bool = False) -> bool:
    """Whether two action classes contradict each other (e.g. update vs delete).

    `strict` drops the read~create pairing that tool names need ("get_random_number" that
    "generates" one) but a user's request does not ("add a file" is not "download a file").
    """
    groups = [g for g in _COMPATIBLE if not strict or g != {"read", "create"}]
    return a != b and not any({a, b} <= group for group in groups)


class NoisyMisdirectionGuard(Guard):
    """Flags a call to a tool whose name and description disagree about what it does.

    The description is taken as what the tool really does (a name is the cheaper thing
    to get wrong). Destructive mismatches (the description deletes, moves, sends...) are
    marked `destructive`, so a policy may ask a human instead of blocking.
    """

    name = "noisy_misdirection"
    stage = Stage.EXECUTION

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str], Finding] = {}

    async def check(self, ctx: GuardContext) -> Finding:
        tool = ctx.tool
        if tool is None:
            return Finding.clean("no tool")
        key = (tool.name, tool.description)
        if key not in self._cache:
            self._cache[key] = self._judge(tool)
        found = self._cache[key]
        if found.flagged or not ctx.query:
            return found
        return self._against_request(tool, ctx.query) or found

    @staticmethod
    def _against_request(tool: ToolSpec, query: str) -> Finding | None:
        # The description is what the tool does; it must be one of the actions the user asked for.
        does = description_action(tool.description)
        asked = request_actions(query)
        if does and asked and all(actions_conflict(does, a, strict=True) for a in asked):
            return Finding(
                flagged=True,
                score=1.0,
                category="description-contradicts-request",
                destructive=does in DESTRUCTIVE,
                reason=f"tool {tool.name!r} will '{does}' but the request asks to {' / '.join(sorted(asked))}",
            )
        return None

    @staticmethod
    def _judge(tool: ToolSpec) -> Finding:
        by_name, by_desc = name_action(tool.name), description_action(tool.description)
        if by_name and by_desc and actions_conflict(by_name, by_desc):
            return Finding(
                flagged=True,
                score=1.0,
                category="name-description-mismatch",
                destructive=by_desc in DESTRUCTIVE or by_name in DESTRUCTIVE,
                reason=f"tool {tool.name!r} is named for '{by_name}' but its description says it will '{by_desc}'",
            )
        return Finding.clean(f"name ({by_name}) and description ({by_desc}) agree")


class RiskyCueGuard(Guard):
    """Flags a call to a tool whose description or risk notes say it harms, deceives, collects data
    without consent, writes malware, gives unqualified advice...

    Rules: risk vocabulary in a clause of the description (after its first sentence or after a
    contrast such as "but" / "however", so a plain purpose statement does not count). Embeddings:
    a clause closer than `threshold` to a risk-cue prototype and closer to it than to a benign
    tool description.
    """

    name = "risky_cue"
    stage = Stage.EXECUTION

    def __init__(self, embedder: SentenceEmbedder, seeds: SeedSet, threshold: float) -> None:
        self.risk = PrototypeIndex(embedder, seeds.risk_cues)
        self.benign = PrototypeIndex(
            embedder, seeds.benign_tool_descriptions or {"plain": ["Search the web."]}
        )
        self.threshold = threshold
        self._cache: dict[tuple[str, str, str], Finding] = {}

    async def check(self, ctx: GuardContext) -> Finding:
        tool = ctx.tool
        if tool is None:
            return Finding.clean("no tool")
        notes = " ".join(f"{k}: {v}" for k, v in sorted(tool.annotations.items()) if isinstance(v, str))
        key = (tool.name, tool.description, notes)
        if key not in self._cache:
            self._cache[key] = self._judge(tool.description, notes)
        return self._cache[key]

    def _clauses(self, description: str) -> list[tuple[str, bool]]:
        """Clauses of `description`, each with whether it comes after the tool's stated purpose."""
        out: list[tuple[str, bool]] = []
        for i, sent in enumerate(split_sentences(description)):
            pieces = re.split(r",?\s*\b(?:but|however|although|yet)\b,?\s*", sent, flags=re.IGNORECASE)
            for j, piece in enumerate(pieces):
                if piece.strip():
                    out.append((piece.strip(), i > 0 or j > 0))
        return out

    def _judge(self, description: str, notes: str) -> Finding:
        clauses = self._clauses(description)
        if notes:
            clauses.append((notes, True))
        for clause, after_purpose in clauses:
            m = lex.RISK_TERMS.search(clause)
            if m and (after_purpose or lex.CONTRAST.search(description)):
                return Finding(
                    flagged=True,
                    score=1.0,
                    category="risk-term",
                    spans=[clause],
                    reason=f"tool description warns of risky behaviour ({m.group(0)!r})",
                )
        texts = [c for c, _ in clauses]
        if not texts:
            return Finding.clean("no description")
        score, best_label, best_text = self.risk.best_beating(self.benign, texts)
        if best_label is not None and score >= self.threshold:
            return Finding(
                flagged=True,
                score=score,
                category=best_label,
                spans=[best_text] if best_text else [],
                reason=f"tool description resembles risk cue {best_label!r} (cosine {score:.2f})",
            )
        return Finding(flagged=False, score=score, reason="no risk cue in the tool description")


class DestructiveApprovalGuard(Guard):
    """Flags every call that would delete, overwrite, move or send (by risk annotation or by the action
    its description names), so a policy can require human approval (`ask-human`)."""

    name = "destructive_approval"
    stage = Stage.EXECUTION

    async def check(self, ctx: GuardContext) -> Finding:
        tool = ctx.tool
        if tool is None:
            return Finding.clean("no tool")
        if tool.annotations.get("destructive") or tool.annotations.get("external_effect"):
            return Finding(
                flagged=True,
                destructive=True,
                category="annotated",
                reason=f"tool {tool.name!r} is annotated as destructive / external",
            )
        action = description_action(tool.description) or name_action(tool.name)
        if action in {"delete", "move", "send", "update"}:
            return Finding(
                flagged=True,
                destructive=True,
                category=action,
                reason=f"tool {tool.name!r} will {action} data: {tool.description[:120]}",
            )
        return Finding.clean("not destructive")


@register_guard("noisy_misdirection", Stage.EXECUTION)
def _build_nm(config, res: GuardResources) -> Guard:
    return with_judge(NoisyMisdirectionGuard(), config, res, ModelJudgeGuard.NOISY_MISDIRECTION)


@register_guard("risky_cue", Stage.EXECUTION)
def _build_rc(config, res: GuardResources) -> Guard:
    threshold = config.threshold if config.threshold is not None else 0.55
    return with_judge(
        RiskyCueGuard(res.embedder, res.seeds, threshold), config, res, ModelJudgeGuard.RISKY_CUE
    )


@register_guard("destructive_approval", Stage.EXECUTION)
def _build_da(config, res: GuardResources) -> Guard:
    return DestructiveApprovalGuard()
