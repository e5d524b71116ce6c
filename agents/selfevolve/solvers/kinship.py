"""An independent kinship solver: reads a CLUTRR-style story into a family model and names relations.

It shares no code with the story generator (`embedded/kinship.py`): the generator composes
relation words through a composition table, while this solver builds family units
(who are the parents of whom) with union-find and then names the relation structurally.
Tests check every embedded answer with it, and the scripted verifier uses it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

EDGE_WORDS: dict[str, tuple[str, str | None]] = {
    # word -> (base relation, gender of the person the word describes)
    "father": ("parent", "m"),
    "dad": ("parent", "m"),
    "mother": ("parent", "f"),
    "mom": ("parent", "f"),
    "son": ("child", "m"),
    "daughter": ("child", "f"),
    "brother": ("sibling", "m"),
    "sister": ("sibling", "f"),
    "husband": ("spouse", "m"),
    "wife": ("spouse", "f"),
}

TERMS: dict[str, tuple[str, str, str]] = {
    # base relation -> (male word, female word, word when the gender is unknown)
    "parent": ("father", "mother", "parent"),
    "child": ("son", "daughter", "child"),
    "sibling": ("brother", "sister", "sibling"),
    "spouse": ("husband", "wife", "spouse"),
    "grandparent": ("grandfather", "grandmother", "grandparent"),
    "grandchild": ("grandson", "granddaughter", "grandchild"),
    "pibling": ("uncle", "aunt", "uncle or aunt"),
    "nibling": ("nephew", "niece", "nephew or niece"),
    "cousin": ("cousin", "cousin", "cousin"),
    "parent-in-law": ("father-in-law", "mother-in-law", "parent-in-law"),
    "child-in-law": ("son-in-law", "daughter-in-law", "child-in-law"),
    "sibling-in-law": ("brother-in-law", "sister-in-law", "sibling-in-law"),
}

_NAME = r"([A-Z][a-z]+)"
_REL = r"(" + "|".join(EDGE_WORDS) + r")"
# Each pattern yields (anchor, relation word, relative, anchor pronoun or None):
# "relative is anchor's <word>".
_PATTERNS: list[tuple[re.Pattern[str], tuple[int, int, int, int | None]]] = [
    (re.compile(rf"{_NAME} is {_NAME}'s {_REL}\b"), (2, 3, 1, None)),
    (re.compile(rf"{_NAME} is the {_REL} of {_NAME}\b"), (3, 2, 1, None)),
    (re.compile(rf"{_NAME} has a {_REL} (?:named|called) {_NAME}\b"), (1, 2, 3, None)),
    (re.compile(rf"{_NAME}, {_NAME}'s {_REL},"), (2, 3, 1, None)),
    (re.compile(rf"{_NAME}\b[^.?!]*?\b(his|her) {_REL},? {_NAME}\b"), (1, 3, 4, 2)),
]
_QUESTION = re.compile(rf"How is {_NAME} related to {_NAME}\?")


@dataclass(frozen=True)
class KinshipFact:
    """`relative` is `anchor`'s `word` (e.g. Bob is Ann's father)."""

    anchor: str
    word: str
    relative: str
    sentence: str


@dataclass
class _Person:
    gender: str | None = None
    own: int = -1
    """Family unit in which this person is a parent."""
    parents: int = -1
    """Family unit in which this person is a child."""


@dataclass
class FamilyModel:
    """Family units joined with union-find; relations are read off the structure."""

    people: dict[str, _Person] = field(default_factory=dict)
    _parent_of: list[int] = field(default_factory=list)

    def _new_unit(self) -> int:
        self._parent_of.append(len(self._parent_of))
        return len(self._parent_of) - 1

    def _find(self, u: int) -> int:
        while self._parent_of[u] != u:
            self._parent_of[u] = self._parent_of[self._parent_of[u]]
            u = self._parent_of[u]
        return u

    def _union(self, a: int, b: int) -> None:
        self._parent_of[self._find(a)] = self._find(b)

    def person(self, name: str) -> _Person:
        if name not in self.people:
            self.people[name] = _Person(own=self._new_unit(), parents=self._new_unit())
        return self.people[name]

    def add(self, fact: KinshipFact, anchor_gender: str | None = None) -> None:
        """Record that `fact.relative` is `fact.anchor`'s `fact.word`."""
        base, gender = EDGE_WORDS[fact.word]
        a, r = self.person(fact.anchor), self.person(fact.relative)
        r.gender = r.gender or gender
        if anchor_gender:
            a.gender = a.gender or anchor_gender
        if base == "parent":
            self._union(r.own, a.parents)
        elif base == "child":
            self._union(a.own, r.parents)
        elif base == "sibling":
            self._union(a.parents, r.parents)
        elif base == "spouse":
            self._union(a.own, r.own)
            if a.gender is None and gender is not None:
                a.gender = "f" if gender == "m" else "m"

    def _where(self, attr: str, unit: int, exclude: set[str]) -> set[str]:
        root = self._find(unit)
        return {
            n for n, p in self.people.items() if self._find(getattr(p, attr)) == root and n not in exclude
        }

    def parents(self, name: str) -> set[str]:
        return self._where("own", self.people[name].parents, {name})

    def children(self, name: str) -> set[str]:
        return self._where("parents", self.people[name].own, {name})

    def spouses(self, name: str) -> set[str]:
        return self._where("own", self.people[name].own, {name})

    def siblings(self, name: str) -> set[str]:
        return self._where("parents", self.people[name].parents, {name})

    def _over(self, names: set[str], step: str) -> set[str]:
        out: set[str] = set()
        for n in names:
            out |= getattr(self, step)(n)
        return out

    def base_relation(self, anchor: str, relative: str) -> str | None:
        """The base relation of `relative` to `anchor` (e.g. `pibling`), or None if undetermined."""
        if anchor not in self.people or relative not in self.people or anchor == relative:
            return None
        checks: list[tuple[str, list[str]]] = [
            ("spouse", ["spouses"]),
            ("parent", ["parents"]),
            ("child", ["children"]),
            ("sibling", ["siblings"]),
            ("grandparent", ["parents", "parents"]),
            ("grandchild", ["children", "children"]),
            ("pibling", ["parents", "siblings"]),
            ("nibling", ["siblings", "children"]),
            ("cousin", ["parents", "siblings", "children"]),
            ("parent-in-law", ["spouses", "parents"]),
            ("child-in-law", ["children", "spouses"]),
            ("sibling-in-law", ["spouses", "siblings"]),
            ("sibling-in-law", ["siblings", "spouses"]),
        ]
        for base, path in checks:
            reach = {anchor}
            for step in path:
                reach = self._over(reach, step)
            if relative in reach - {anchor}:
                return base
        return None

    def relation(self, anchor: str, relative: str) -> str | None:
        """The gendered kinship word for `relative` as seen from `anchor` (None if undetermined)."""
        base = self.base_relation(anchor, relative)
        if base is None:
            return None
        male, female, neutral = TERMS[base]
        gender = self.people[relative].gender
        return male if gender == "m" else female if gender == "f" else neutral


def split_sentences(text: str) -> list[str]:
    """Sentences of a story (terminated by . ! or ?)."""
    return [s.strip() for s in re.findall(r"[^.!?]+[.!?]", text) if s.strip()]


def parse_story(text: str) -> tuple[list[KinshipFact], dict[str, str]]:
    """Kinship facts stated in a story, and the genders its pronouns reveal."""
    facts: list[KinshipFact] = []
    genders: dict[str, str] = {}
    for sentence in split_sentences(text):
        for pattern, (ai, wi, ri, pi) in _PATTERNS:
            m = pattern.search(sentence)
            if m:
                facts.append(KinshipFact(m.group(ai), m.group(wi), m.group(ri), sentence))
                if pi is not None:
                    genders[m.group(ai)] = "m" if m.group(pi) == "his" else "f"
                break
    return facts, genders


def build_family(text: str) -> FamilyModel:
    """A `FamilyModel` holding every fact of a story."""
    facts, genders = parse_story(text)
    family = FamilyModel()
    for name, gender in genders.items():
        family.person(name).gender = gender
    for fact in facts:
        family.add(fact)
    return family


def parse_question(question: str) -> tuple[str, str] | None:
    """(relative, anchor) from `How is RELATIVE related to ANCHOR?`, or None."""
    m = _QUESTION.search(question)
    return (m.group(1), m.group(2)) if m else None


def solve_kinship(context: str, question: str) -> str | None:
    """Answer `How is X related to Y?` about a story, or None when the story does not determine it."""
    pair = parse_question(question)
    if pair is None:
        return None
    relative, anchor = pair
    return build_family(context).relation(anchor, relative)
