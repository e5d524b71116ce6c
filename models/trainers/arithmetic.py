"""Offline multi-step arithmetic word problems with step-by-step rationales (GSM8K layout).

R³ needs *correct demonstrations* split into reasoning steps. GSM8K itself cannot be
fetched here, so this generator writes problems of the same shape: a short story of
2-4 events on a count, a question, and a rationale with one computation per line in
GSM8K's style (`12 + 5 = <<12+5=17>>17`). Answers are computed as the text is written,
so every demonstration is correct by construction; the tests re-derive them from the
`<<...>>` annotations. With `style="pot"` the steps are instead the body of a Python
`solution()` (one assignment per computation, then `return`) for R³'s program-of-thought
variant. Deterministic for a seed (both styles give the same problems).
"""

from __future__ import annotations

import random

from phalanx.models.trainers.r3_data import Demonstration, Style

NAMES = ("Ana", "Ben", "Chloe", "Dev", "Elif", "Finn", "Grace", "Hugo", "Ines", "Jonas", "Kira", "Luca")
THINGS = ("oranges", "crayons", "stamps", "beads", "cards", "eggs", "buttons", "nuts")


def _calc(a: int, op: str, b: int) -> tuple[int, str]:
    value = {"+": a + b, "-": a - b, "*": a * b, "/": a // b}[op]
    return value, f"{a} {op} {b} = <<{a}{op}{b}={value}>>{value}"


def generate_word_problems(
    n: int = 200, *, seed: int = 0, min_events: int = 2, max_events: int = 4, style: Style = "cot"
) -> list[Demonstration]:
    """`n` distinct word problems with 2+ reasoning steps each.

    Args:
        n: how many.
        seed: same seed, same problems.
        min_events, max_events: story events per problem (a "packs" event takes two steps).
        style: `cot` (GSM8K-style rationale lines) or `pot` (the lines of `solution()`'s body).
    """
    if not 1 <= min_events <= max_events:
        raise ValueError("need 1 <= min_events <= max_events")
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[Demonstration] = []
    while len(out) < n:
        name, thing = rng.choice(NAMES), rng.choice(THINGS)
        count = rng.randint(3, 30)
        story = [f"{name} has {count} {thing}."]
        steps: list[str] = []
        code = [f"    {thing} = {count}"]
        for _ in range(rng.randint(min_events, max_events)):
            event = rng.choices(("gain", "lose", "packs", "triple"), weights=(4, 4, 3, 1))[0]
            if event == "lose" and count < 3:
                event = "gain"
            if event == "triple" and count > 40:
                event = "lose"
            if event == "gain":
                k = rng.randint(2, 25)
                story.append(f"Then {name} gets {k} more {thing} from a cousin.")
                count, calc = _calc(count, "+", k)
                steps.append(f"After the gift {name} has {calc} {thing}.")
                code.append(f"    {thing} = {thing} + {k}")
            elif event == "lose":
                k = rng.randint(1, min(count - 1, 25))
                story.append(f"Later {name} uses up {k} of the {thing}.")
                count, calc = _calc(count, "-", k)
                steps.append(f"After using some, {name} has {calc} {thing}.")
                code.append(f"    {thing} = {thing} - {k}")
            elif event == "packs":
                packs, per = rng.randint(2, 6), rng.randint(2, 10)
                story.append(f"{name} also buys {packs} packs with {per} {thing} in each pack.")
                bought, calc = _calc(packs, "*", per)
                steps.append(f"The packs hold {calc} {thing}.")
                count, calc = _calc(count, "+", bought)
                steps.append(f"With the packs {name} has {calc} {thing}.")
                code += [f"    packs = {packs} * {per}", f"    {thing} = {thing} + packs"]
            else:
                story.append(f"Then the number of {thing} {name} owns triples.")
                count, calc = _calc(count, "*", 3)
                steps.append(f"Tripled, that is {calc} {thing}.")
                code.append(f"    {thing} = {thing} * 3")
        divisors = [d for d in (2, 3, 4, 5) if count % d == 0 and count // d > 1]
        if divisors and rng.random() < 0.3:
            d = rng.choice(divisors)
            question = f"{name} shares all the {thing} equally among {d} friends. How many {thing} does each friend get?"
            count, calc = _calc(count, "/", d)
            steps.append(f"Each friend gets {calc} {thing}.")
            code.append(f"    {thing} = {thing} // {d}")
        else:
            question = f"How many {thing} does {name} have at the end?"
        text = " ".join(story) + " " + question
        if text in seen:
            continue
        seen.add(text)
        out.append(
            Demonstration(
                item_id=f"arith_{len(out):05d}",
                question=text,
                steps=tuple(steps if style == "cot" else [*code, f"    return {thing}"]),
                answer=str(count),
            )
        )
    return out
