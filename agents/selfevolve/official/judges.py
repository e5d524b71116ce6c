"""Lenient rule judges of the official Self-Evolving Benchmark (`utils/judge_result.py`), re-implemented.

* GSM8K: a reply passes when one of its last two numbers equals the reference (|d| < 1e-4).
* StrategyQA / BoolQ: yes/no extraction: the reply is the answer word, or holds it as a word.
* CLUTRR: the reply's last line must read `Conclusion: <relation>`; relations match through a
  synonym map (wife ~ spouse, grandson ~ grandchild, stepson ~ son, ...), -in-law and great-
  forms joined, plural `s` dropped, either side's words covered by the other's.
* Sub-ability probes: the letter after "the answer is", or the reply's first sentence ending in
  (or being) `A` / `B`.

Deliberate difference: the official yes/no judge also passes a "yes" reference when the reply
contains the substring "correct", which "incorrect" contains; here "correct" must be a word.
"""

from __future__ import annotations

import re

_NUMBER = re.compile(r"-?\d+\.?\d*")

KINSHIP_SYNONYMS: dict[str, list[str]] = {
    "wife": ["spouse"], "husband": ["spouse"], "brother": ["sibling"], "sister": ["sibling"],
    "father": ["parent"], "mother": ["parent"], "son": ["child", "children"], "daughter": ["child", "children"],
    "grandfather": ["grandparent"], "grandmother": ["grandparent"],
    "grandson": ["grandchild", "grandchildren"], "granddaughter": ["grandchild", "grandchildren"],
    "stepdaughter": ["daughter", "stepchild", "stepchildren"], "stepson": ["son", "stepchild", "stepchildren"],
    "stepmother": ["mother", "stepparent"], "stepfather": ["father", "stepparent"],
    "fatherinlaw": ["father"], "motherinlaw": ["mother"], "brotherinlaw": ["brother"],
    "sisterinlaw": ["sister"], "soninlaw": ["son"], "daughterinlaw": ["daughter"],
    "granddaughterinlaw": ["granddaughter"], "adoptedson": ["son"], "adopteddaughter": ["daughter"],
    "adoptiveson": ["son"], "adoptivedaughter": ["daughter"],
}  # fmt: skip
"""The official CLUTRR judge's map from a relation to the broader terms it also matches."""


def _numbers(text: str) -> list[float]:
    return [
        float(n.rstrip(".")) for n in _NUMBER.findall(text.replace(",", "")) if n.rstrip(".") not in ("", "-")
    ]


def judge_number(reference: str, reply: str) -> bool:
    """GSM8K: one of the reply's last two numbers is the reference's last number."""
    ref = _numbers(reference)
    got = _numbers(reply)
    return bool(ref and got) and any(abs(ref[-1] - n) < 1e-4 for n in got[-2:])


def judge_yes_no(reference: str, reply: str) -> bool:
    """StrategyQA / BoolQ: yes/no extraction."""
    ref = reference.strip().lower()
    if ref not in ("yes", "no"):
        return False
    low = reply.strip().lower()
    if low == ref:
        return True
    if (ref == "no" and re.search(r"\bincorrect\b", low)) or (
        ref == "yes" and re.search(r"\bcorrect\b", low)
    ):
        return True
    return bool(re.search(rf"(^|\s){ref}(\s|\.|,)", low))


def _relation_words(text: str) -> tuple[list[str], list[str]]:
    s = text.replace("\\n", "").replace("-in-law", "inlaw")
    s = re.sub(r"(?i)great-", "great", s)
    s = re.sub(r"(?i)\b(adopted|adoptive) ", r"\1", s).lower().strip()
    parts = re.split(r"[;\"\-'.,\s]\s*", s)
    for i in range(len(parts) - 1):
        if parts[i] == "great":
            parts[i], parts[i + 1] = parts[i] + parts[i + 1], ""
    words = [w for w in parts if w and w not in ("and", "or", "answer:")]
    words = [w[:-1] if w.endswith("s") else w for w in words]
    extended = [x for w in words for x in [*KINSHIP_SYNONYMS.get(w, []), w]]
    return words, extended


def judge_kinship(reference: str, reply: str) -> bool:
    """CLUTRR: the `Conclusion:` of the reply's last line names the reference relation (synonyms allowed)."""
    last = reply.strip().split("\n")[-1].strip()
    if "Conclusion: " not in last:
        return False
    ref_words, ref_ext = _relation_words(reference)
    got_words, got_ext = _relation_words(last.split("Conclusion: ")[-1].strip())
    return bool(got_words) and (all(w in ref_ext for w in got_words) or all(w in got_ext for w in ref_words))


def judge_choice(reference: str, reply: str) -> bool:
    """Sub-ability probes: the reply picks option `reference` (`A` or `B`)."""
    text = reply.strip()
    if not text:
        return False
    low = text.lower()
    if "the answer is " in low:
        picked = low.split("the answer is ")[-1].strip()[:1]
        if picked == reference.lower():
            return True
    first = text.split(".")[0].strip()
    if first and first[-1] in "AB":
        first = first[-1]
    return (
        first.lower() == reference.lower()
        or f"{reference} " in first
        or f" {reference}." in first
        or f"{reference}\n" in first
        or f"({reference})" in first
    )


def judge_official(task: str, reference: str, reply: str, *, choice: bool = False) -> bool | None:
    """The official judge for `task` (None when the task has none: phalanx's own scoring applies)."""
    if choice:
        return judge_choice(reference, reply)
    judge = {
        "arithmetic": judge_number,
        "kinship": judge_kinship,
        "commonsense": judge_yes_no,
        "boolean": judge_yes_no,
    }
    fn = judge.get(task)
    return None if fn is None else fn(reference, reply)
