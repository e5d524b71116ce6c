"""Deterministic reframings and reference answers for the embedded tasks (kinship, arithmetic).

These power the `scripted:evolve-*` models, so the whole pipeline runs offline with correct
output for every mode. They rely only on the independent solvers in `solvers/`.
"""

from __future__ import annotations

import re

from phalanx.agents.selfevolve.solvers.arithmetic import _START, problem_steps, solve_arithmetic
from phalanx.agents.selfevolve.solvers.kinship import (
    EDGE_WORDS,
    KinshipFact,
    build_family,
    parse_question,
    parse_story,
    split_sentences,
)
from phalanx.agents.selfevolve.types import Mode

PLAN_SUFFIX = " List the reasoning steps needed to answer it."
KNOWLEDGE_SUFFIX = " Which general rules are needed to answer it?"
RETRIEVAL_SUFFIX = " Which sentences of the context are needed to answer it?"
SUFFIXES = {Mode.PLANNING: PLAN_SUFFIX, Mode.KNOWLEDGE: KNOWLEDGE_SUFFIX, Mode.RETRIEVAL: RETRIEVAL_SUFFIX}
_NOISE_NAMES = ("Hugo", "Ingrid", "Felix", "Greta", "Otto", "Selma")
_IF_FACT = re.compile(r"^If ([A-Z][a-z]+) is ([A-Z][a-z]+)'s ([a-z]+), how (is .*)$")
_FLIP = {"father": "mother", "mother": "father", "son": "daughter", "daughter": "son", "brother": "sister",
         "sister": "brother", "husband": "wife", "wife": "husband"}  # fmt: skip


def task_of(context: str, question: str) -> str | None:
    """`kinship` or `arithmetic` when the instance is one the reframer understands."""
    if parse_question(question.split("?")[0] + "?") or _IF_FACT.match(question):
        return "kinship"
    if solve_arithmetic(context, question.split("?")[0] + "?") is not None:
        return "arithmetic"
    return None


def _split_probe(question: str) -> tuple[Mode | None, str]:
    for mode, suffix in SUFFIXES.items():
        if question.endswith(suffix):
            return mode, question[: -len(suffix)]
    return None, question


# -- kinship ------------------------------------------------------------------------------------
def _kinship_answer(context: str, question: str) -> str | None:
    m = _IF_FACT.match(question)
    if m:
        context = f"{context} {m.group(1)} is {m.group(2)}'s {m.group(3)}."
        question = "How " + m.group(4)
    pair = parse_question(question)
    return build_family(context).relation(pair[1], pair[0]) if pair else None


def _chain(context: str, question: str) -> list[KinshipFact]:
    """Facts on the path from the question's anchor to its relative, in order."""
    facts, _ = parse_story(context)
    pair = parse_question(question)
    if not pair:
        return []
    target, start = pair
    frontier: list[tuple[str, list[KinshipFact]]] = [(start, [])]
    seen = {start}
    while frontier:
        name, path = frontier.pop(0)
        if name == target:
            return path
        for f in facts:
            for a, b in ((f.anchor, f.relative), (f.relative, f.anchor)):
                if a == name and b not in seen:
                    seen.add(b)
                    frontier.append((b, [*path, f]))
    return []


def _kinship_probe(context: str, question: str, mode: Mode) -> str | None:
    chain = _chain(context, question)
    pair = parse_question(question)
    if not chain or not pair:
        return None
    family = build_family(context)
    start = pair[1]
    if mode == Mode.RETRIEVAL:
        return " ".join(f.sentence for f in chain)
    steps, current = [], start
    rules = []
    prev_rel = None
    for i, f in enumerate(chain, start=1):
        nxt = f.relative if f.anchor == current else f.anchor
        rel = family.relation(start, nxt)
        if rel is None:
            return None
        steps.append(f"Step {i}: {nxt} is {start}'s {rel}.")
        if prev_rel is not None:
            rules.append(f"The {f.word} of one's {prev_rel} is one's {rel}." if f.anchor == current else
                         f"Someone whose {f.word} is one's {prev_rel} is one's {rel}.")  # fmt: skip
        prev_rel, current = rel, nxt
    if mode == Mode.PLANNING:
        return " ".join(steps)
    return " ".join(rules) if rules else "No rule is needed: the relation is stated directly."


def _kinship_reframe(context: str, question: str, answer: str, mode: Mode) -> dict[str, str] | None:
    facts, genders = parse_story(context)
    pair = parse_question(question)
    if not facts or not pair:
        return None
    target, start = pair
    family = build_family(context)
    names = list(dict.fromkeys(n for f in facts for n in (f.anchor, f.relative)))
    if mode == Mode.PARAPHRASE:
        out = []
        for f in facts:
            if f.anchor in genders:
                pron = "his" if genders[f.anchor] == "m" else "her"
                out.append(f"{f.anchor} spent the afternoon with {pron} {f.word} {f.relative}.")
            else:
                out.append(f"{f.relative} is the {f.word} of {f.anchor}.")
        if " ".join(out) == context.strip():  # already in that form: use another
            out = [f"{f.anchor} has a {f.word} called {f.relative}." for f in facts]
        return {"new_context": " ".join(out)}
    if mode == Mode.NOISE:
        new = [n for n in _NOISE_NAMES if n not in names][:3]
        sentences = split_sentences(context)
        sentences.insert(1, f"{new[0]} is a good friend of {new[1]}.")
        sentences.append(f"{new[2]} is {new[1]}'s brother.")
        return {"new_context": " ".join(sentences)}
    if mode == Mode.POLARITY:
        last = next((f for f in facts if target in (f.relative, f.anchor)), None)
        if last is None:
            return None
        for word in [_FLIP[last.word], *EDGE_WORDS]:
            if word == last.word or word in ("mom", "dad"):
                continue
            sentence = (
                last.sentence.replace(f"'s {last.word}", f"'s {word}")
                .replace(f" {last.word} ", f" {word} ")
                .replace(f"the {last.word} of", f"the {word} of")
            )
            new_context = context.replace(last.sentence, sentence)
            new_answer = _kinship_answer(new_context, question)
            if new_answer and new_answer != answer:
                return {"new_context": new_context, "analysis": f"{sentence}", "new_answer": new_answer}
        return None
    if mode == Mode.ALTERNATIVE:
        best = None
        for a in names:
            for b in names:
                if a == b or (b, a) == (target, start) or (a, b) == (target, start):
                    continue
                rel = family.relation(a, b)
                if rel is None or "or" in rel.split():
                    continue
                hops = len(_chain(context, f"How is {b} related to {a}?"))
                if best is None or hops > best[0]:
                    best = (hops, f"How is {b} related to {a}?", rel)
        if best is None:
            return None
        return {"new_question": best[1], "analysis": "", "new_answer": best[2]}
    if mode == Mode.COMPLEX:
        newcomer = next(n for n in _NOISE_NAMES if n not in names)
        for word in ("son", "daughter", "brother", "sister", "husband", "wife", "father", "mother"):
            q = f"If {newcomer} is {target}'s {word}, how is {newcomer} related to {start}?"
            rel = _kinship_answer(context, q)
            if rel and "or" not in rel.split():
                return {"new_question": q, "analysis": "", "new_answer": rel}
        return None
    new_question = question + SUFFIXES[mode]
    ref = _kinship_probe(context, question, mode)
    return {"new_question": new_question, "new_answer": ref} if ref else None


# -- arithmetic ---------------------------------------------------------------------------------
_PARAPHRASE = [(r"^([A-Z][a-z]+) has ", r"\1 starts with "), (r"\bbuys (\d+) more\b", r"purchases another \1"),
               (r"\bloses (\d+)\b", r"misplaces \1"), (r"\bgives (\d+) ", r"hands over \1 ")]  # fmt: skip


def _arith_probe(context: str, question: str, mode: Mode) -> str | None:
    steps = problem_steps(context)
    if not steps:
        return None
    if mode == Mode.RETRIEVAL:
        return " ".join(s for s, _ in steps)
    ops = []
    from phalanx.agents.selfevolve.solvers.arithmetic import evaluate_expression

    value = evaluate_expression(steps[0][1])
    lines = [f"Step 1: start with {value}."]
    for i, (_, frag) in enumerate(steps[1:], start=2):
        new = evaluate_expression(f"({value}){frag}")
        op = frag[0]
        ops.append({"+": "addition", "-": "subtraction", "*": "multiplication"}[op])
        if "*" in frag[1:]:
            ops.append("multiplication")
        lines.append(f"Step {i}: {value} {frag[0]} {frag[1:]} = {new}.")
        value = new
    if mode == Mode.PLANNING:
        return " ".join(lines)
    return ", ".join(dict.fromkeys(ops))


def _arith_reframe(context: str, question: str, answer: str, mode: Mode) -> dict[str, str] | None:
    steps = problem_steps(context)
    if not steps:
        return None
    start = _START.search(steps[0][0])
    if start is None:
        return None
    name, item = start.group(1), start.group(3)
    sentences = [s.strip() for s in re.findall(r"[^.?!]+[.?!]", context)]
    if mode == Mode.PARAPHRASE:
        out = []
        for s in sentences:
            for pat, rep in _PARAPHRASE:
                s = re.sub(pat, rep, s)
            out.append(s)
        return {"new_context": " ".join(out)}
    if mode == Mode.NOISE:
        sentences.insert(1, f"{name}'s cousin is {len(context) % 30 + 8} years old.")
        sentences.append("The shop closes at 6 o'clock.")
        return {"new_context": " ".join(sentences)}
    if mode == Mode.POLARITY:
        first = sentences[0]
        bumped = re.sub(r"\d+", lambda m: str(int(m.group()) + 3), first, count=1)
        new_context = " ".join([bumped, *sentences[1:]])
        new = solve_arithmetic(new_context, question)
        return {"new_context": new_context, "analysis": bumped, "new_answer": str(new)}
    if mode == Mode.ALTERNATIVE:
        q = f"How many {item} did {name} have before the last step?"
        return {"new_question": q, "analysis": "", "new_answer": str(solve_arithmetic(context, q))}
    if mode == Mode.COMPLEX:
        pron = "she" if re.search(r"\b(She|her)\b", context) else "he"
        k, m = len(sentences) + 1, 3
        q = f"If {pron} then buys {k} more boxes with {m} {item} each, how many {item} does {name} have?"
        return {"new_question": q, "analysis": "", "new_answer": str(solve_arithmetic(context, q))}
    ref = _arith_probe(context, question, mode)
    return {"new_question": question + SUFFIXES[mode], "new_answer": ref} if ref else None


# -- public -------------------------------------------------------------------------------------
def reframe(context: str, question: str, answer: str, mode: Mode) -> dict[str, str] | None:
    """The generator output for `mode` on an embedded-task instance (None if not understood)."""
    task = task_of(context, _split_probe(question)[1])
    if task == "kinship":
        return _kinship_reframe(context, question, answer, mode)
    if task == "arithmetic":
        return _arith_reframe(context, question, answer, mode)
    return None


def reference_answer(context: str, question: str) -> str | None:
    """The correct answer to an embedded-task question, including evolved and probe questions."""
    probe, base = _split_probe(question)
    task = task_of(context, base)
    if task == "kinship":
        return _kinship_probe(context, base, probe) if probe else _kinship_answer(context, base)
    if task == "arithmetic":
        if probe:
            return _arith_probe(context, base, probe)
        value = solve_arithmetic(context, base)
        return None if value is None else str(value)
    return None


def wrong_option(context: str, question: str, answer: str) -> str:
    """A plausible wrong answer: a near-miss number, the other gender, or a corrupted probe answer."""
    if re.fullmatch(r"-?\d+", answer.strip()):
        return str(int(answer) + 1)
    words = answer.split()
    for i in range(len(words) - 1, -1, -1):
        core = words[i].strip(".,").split("-")[0]
        swap = {**_FLIP, "uncle": "aunt", "aunt": "uncle", "nephew": "niece", "niece": "nephew",
                "grandfather": "grandmother", "grandmother": "grandfather", "grandson": "granddaughter",
                "granddaughter": "grandson", "cousin": "brother"}.get(core)  # fmt: skip
        if swap:
            words[i] = words[i].replace(core, swap, 1)
            return " ".join(words)
    m = re.search(r"\d+(?=\.?$)", answer)
    if m:
        return answer[: m.start()] + str(int(m.group()) + 1) + answer[m.end() :]
    sentences = split_sentences(answer)
    if len(sentences) > 1:
        return " ".join(sentences[1:])
    return answer + ", division" if "," in answer or answer.endswith("tion") else "none of the above"
