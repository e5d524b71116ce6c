"""Kinship-reasoning stories in the style of CLUTRR, generated offline with known answers.

A story is a chain of people P0..Pk where each Pi is P(i-1)'s father, sister, husband, ...
The answer (how Pk is related to P0) is composed step by step through a composition
table of CLUTRR's conventions (e.g. a father's wife is one's mother, a spouse's child
is one's child). Chains whose composition the table does not define are resampled, so
every answer is determined by the story. `solvers/kinship.py` re-derives each answer
independently in the tests.
"""

from __future__ import annotations

import random

from phalanx.agents.selfevolve.types import Instance

MALE = (
    "Adam Ben Carl Dan Eric Frank George Henry Ivan Jack Kevin Leo Mark Nick Oscar Paul "
    "Quinn Ray Sam Tom Victor Walter Xavier Yusuf Zack Aaron Brian Colin Derek Elliot"
).split()
FEMALE = (
    "Alice Beth Clara Diana Emma Fiona Grace Hannah Iris Julia Kate Laura Mia Nora Olivia "
    "Paula Rose Sara Tina Uma Vera Wendy Yara Zoe Amber Bella Chloe Daisy Ella Flora"
).split()

# edge base relation -> (word for a male relative, word for a female relative)
EDGE = {
    "parent": ("father", "mother"),
    "child": ("son", "daughter"),
    "sibling": ("brother", "sister"),
    "spouse": ("husband", "wife"),
}

# (relation of B to A, relation of C to B) -> relation of C to A, under CLUTRR's conventions.
COMPOSE: dict[tuple[str, str], str] = {
    ("parent", "parent"): "grandparent",
    ("parent", "sibling"): "pibling",
    ("parent", "spouse"): "parent",
    ("parent", "child"): "sibling",
    ("child", "child"): "grandchild",
    ("child", "spouse"): "child-in-law",
    ("child", "sibling"): "child",
    ("sibling", "child"): "nibling",
    ("sibling", "parent"): "parent",
    ("sibling", "sibling"): "sibling",
    ("sibling", "spouse"): "sibling-in-law",
    ("spouse", "parent"): "parent-in-law",
    ("spouse", "child"): "child",
    ("spouse", "sibling"): "sibling-in-law",
    ("grandparent", "spouse"): "grandparent",
    ("grandchild", "sibling"): "grandchild",
    ("pibling", "child"): "cousin",
    ("nibling", "sibling"): "nibling",
    ("cousin", "sibling"): "cousin",
    ("parent-in-law", "spouse"): "parent-in-law",
}

WORDS = {
    "parent": ("father", "mother"),
    "child": ("son", "daughter"),
    "sibling": ("brother", "sister"),
    "spouse": ("husband", "wife"),
    "grandparent": ("grandfather", "grandmother"),
    "grandchild": ("grandson", "granddaughter"),
    "pibling": ("uncle", "aunt"),
    "nibling": ("nephew", "niece"),
    "cousin": ("cousin", "cousin"),
    "parent-in-law": ("father-in-law", "mother-in-law"),
    "child-in-law": ("son-in-law", "daughter-in-law"),
    "sibling-in-law": ("brother-in-law", "sister-in-law"),
}

# Sentence forms: {a} = anchor, {r} = relative, {w} = relation word, {p} = anchor's pronoun.
TEMPLATES = (
    "{r} is {a}'s {w}.",
    "{a} has a {w} named {r}.",
    "{a} went to the market with {p} {w} {r}.",
    "{r}, {a}'s {w}, baked a cake for the whole family.",
    "{a} called {p} {w} {r} to talk about the weekend.",
    "{r} is the {w} of {a}.",
)


def word_for(base: str, gender: str) -> str:
    """The gendered word for a base relation (`pibling`, `f` -> `aunt`)."""
    male, female = WORDS[base]
    return male if gender == "m" else female


def render_fact(anchor: str, word: str, relative: str, anchor_gender: str, template: int) -> str:
    """One story sentence saying `relative` is `anchor`'s `word`."""
    pron = "his" if anchor_gender == "m" else "her"
    return TEMPLATES[template % len(TEMPLATES)].format(a=anchor, r=relative, w=word, p=pron)


def _sample_chain(rng: random.Random, hops: int) -> tuple[list[str], str] | None:
    edges: list[str] = []
    composed: str | None = None
    for _ in range(hops):
        edge = rng.choice(list(EDGE))
        if composed is None:
            composed = edge
        else:
            composed = COMPOSE.get((composed, edge))
            if composed is None:
                return None
        edges.append(edge)
    return edges, composed  # type: ignore[return-value]


def generate_kinship(n: int = 240, seed: int = 0) -> list[Instance]:
    """`n` kinship stories with 2-4 hops, deterministic for a given seed."""
    rng = random.Random(seed)
    out: list[Instance] = []
    seen: set[tuple[str, str]] = set()
    while len(out) < n:
        hops = rng.choice((2, 2, 3, 3, 4))
        sampled = _sample_chain(rng, hops)
        if sampled is None:
            continue
        edges, base = sampled
        genders = [rng.choice("mf")]
        for edge in edges:
            # a spouse has the other gender (CLUTRR's convention); otherwise free
            genders.append(("f" if genders[-1] == "m" else "m") if edge == "spouse" else rng.choice("mf"))
        males, females = rng.sample(MALE, len(genders)), rng.sample(FEMALE, len(genders))
        names = [males[i] if g == "m" else females[i] for i, g in enumerate(genders)]
        sentences = []
        for i, edge in enumerate(edges):
            word = EDGE[edge][0 if genders[i + 1] == "m" else 1]
            sentences.append(
                render_fact(names[i], word, names[i + 1], genders[i], rng.randrange(len(TEMPLATES)))
            )
        if rng.random() < 0.3:
            rng.shuffle(sentences)
        context = " ".join(sentences)
        question = f"How is {names[-1]} related to {names[0]}?"
        if (context, question) in seen:
            continue
        seen.add((context, question))
        out.append(
            Instance(
                id=f"kinship-{len(out):04d}",
                context=context,
                question=question,
                answer=word_for(base, genders[-1]),
                task="kinship",
            )
        )
    return out
