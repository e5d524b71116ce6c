"""Multi-step arithmetic word problems (GSM8K-like in shape), generated offline with known answers.

Each problem starts from a count and applies 2-4 steps (buy, give away, boxes of k, double);
the generator tracks the running total as it writes, never letting it go negative.
`solvers/arithmetic.py` re-derives each answer from the text in the tests.
"""

from __future__ import annotations

import random

from phalanx.agents.selfevolve.types import Instance

PEOPLE = (("Mia", "f"), ("Leo", "m"), ("Ava", "f"), ("Noah", "m"), ("Zoe", "f"), ("Omar", "m"), ("Lily", "f"),
          ("Ivan", "m"), ("Emma", "f"), ("Jack", "m"), ("Sara", "f"), ("Tom", "m"))  # fmt: skip
ITEMS = ("apples", "marbles", "stickers", "books", "cookies", "pencils", "coins", "shells")

# (kind, template); {s} subject pronoun, {o} object pronoun, {p} possessive, {i} item, {n}/{k}/{m} numbers
ADD = ("{S} buys {n} more {i}.", "{S} finds {n} {i} in the garden.", "A friend gives {o} {n} {i}.",
       "{S} wins {n} {i} at a fair.")  # fmt: skip
SUB = ("{S} gives {n} {i} to {p} neighbour.", "{S} loses {n} {i} on the way home.",
       "{S} gives away {n} {i} at school.")  # fmt: skip
BOXES = ("{S} buys {k} boxes with {m} {i} in each box.", "{S} gets {k} bags of {m} {i} each.")
DOUBLE = ("{S} doubles the number of {i} {s} has.",)


def _pronouns(gender: str) -> dict[str, str]:
    s, o, p = ("he", "him", "his") if gender == "m" else ("she", "her", "her")
    return {"s": s, "S": s.capitalize(), "o": o, "p": p}


def generate_arithmetic(n: int = 240, seed: int = 0) -> list[Instance]:
    """`n` word problems of 3-5 sentences, deterministic for a given seed."""
    rng = random.Random(seed)
    out: list[Instance] = []
    seen: set[str] = set()
    while len(out) < n:
        name, gender = rng.choice(PEOPLE)
        item = rng.choice(ITEMS)
        pron = _pronouns(gender)
        total = rng.randint(5, 40)
        sentences = [f"{name} has {total} {item}."]
        for _ in range(rng.randint(2, 4)):
            kind = rng.choices(("add", "sub", "boxes", "double"), weights=(4, 4, 2, 1))[0]
            if kind == "sub" and total < 2:
                kind = "add"
            if kind == "double" and total > 60:
                kind = "sub"
            if kind == "add":
                num = rng.randint(2, 20)
                total += num
                sentences.append(rng.choice(ADD).format(n=num, i=item, **pron))
            elif kind == "sub":
                num = rng.randint(1, min(total, 20))
                total -= num
                sentences.append(rng.choice(SUB).format(n=num, i=item, **pron))
            elif kind == "boxes":
                k, m = rng.randint(2, 5), rng.randint(2, 12)
                total += k * m
                sentences.append(rng.choice(BOXES).format(k=k, m=m, i=item, **pron))
            else:
                total *= 2
                sentences.append(DOUBLE[0].format(i=item, **pron))
        context = " ".join(sentences)
        if context in seen:
            continue
        seen.add(context)
        out.append(
            Instance(
                id=f"arithmetic-{len(out):04d}",
                context=context,
                question=f"How many {item} does {name} have now?",
                answer=str(total),
                task="arithmetic",
            )
        )
    return out
