"""The official Self-Evolving Benchmark's demonstrations, evaluation prompts and lenient judges.

`official_prompts.json` holds, verbatim, the few-shot demonstrations of the official
generator, verifier and option generator (`demo_hub.py`) and the per-dataset 2-shot
chain-of-thought evaluation prompts (`utils/construction.py`); see `NOTICE.md` for the source.
phalanx's task families map onto the official datasets (`DATASETS`). The judges are
re-implementations of `utils/judge_result.py`: the last two numbers of a reply (GSM8K),
yes/no extraction (StrategyQA, BoolQ), the `Conclusion:` line with its kinship synonym map
(CLUTRR) and the A/B reading of sub-ability probes.

The demonstrations are shown to phalanx's agents as example instance/reply pairs in their JSON
reply format (the official code sends them as chat turns of its free-text format); the
evaluation prompts are sent as the official chat (system instruction, two demonstration turns,
the question).
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from phalanx.agents.selfevolve.types import Mode
from phalanx.models import Message

DATA = Path(__file__).with_name("official_prompts.json")
DATASETS = {"arithmetic": "gsm8k", "kinship": "clutrr", "commonsense": "strategyqa", "boolean": "boolq"}
"""phalanx task family -> the official dataset whose demonstrations and judge it uses."""
MODE_NAMES = {Mode.NOISE: "addnoise", Mode.POLARITY: "reversepolar"}
"""phalanx modes the official code names otherwise (config.py)."""


@cache
def official_prompts() -> dict[str, Any] | None:
    """The official demonstrations and evaluation prompts, or None when the data file is not shipped."""
    if not DATA.is_file():
        return None
    return json.loads(DATA.read_text(encoding="utf-8"))


def _mode_name(mode: Mode) -> str:
    return MODE_NAMES.get(mode, mode.value)


# -- demonstrations for the evolve agents --------------------------------------------------------

_FIELD = re.compile(
    r"^(Context|Question|Original Question|Answer|Original Answer|New Context|Analysis|New Answer|"
    r"Alternative Question|Alternative Answer|Complex Question|Complex Answer|New Question|Judgement|Option)"
    r"\s*:\s*",
    re.MULTILINE,
)


def _fields(text: str) -> dict[str, str]:
    """`Label: value` blocks of an official demo text (first occurrence of each label wins)."""
    out: dict[str, str] = {}
    hits = list(_FIELD.finditer(text))
    for i, m in enumerate(hits):
        end = hits[i + 1].start() if i + 1 < len(hits) else len(text)
        out.setdefault(m.group(1).lower(), text[m.end() : end].strip())
    return out


def demo_instance(text: str) -> dict[str, str]:
    """An official demo input as phalanx's instance JSON (`context`, `question`, `answer`)."""
    f = _fields(text)
    return {
        "context": f.get("context", ""),
        "question": f.get("question", f.get("original question", "")),
        "answer": f.get("answer", f.get("original answer", "")),
    }


def demo_reply(role: str, text: str) -> dict[str, str]:
    """An official demo output as the JSON reply phalanx's agent of `role` gives."""
    f = _fields(text)
    if role == "verifier":
        judgement = f.get("judgement", "").lower()
        return {
            "analysis": f.get("analysis", ""),
            "judgement": "yes" if judgement.startswith("yes") else "no",
        }
    if role == "option":
        return {"option": f.get("option", "")}
    out: dict[str, str] = {}
    question = next(
        (f[k] for k in ("new question", "alternative question", "complex question") if k in f), None
    )
    answer = next((f[k] for k in ("new answer", "alternative answer", "complex answer") if k in f), None)
    if "new context" in f:
        out["new_context"] = f["new context"]
    if question is not None:
        out["new_question"] = question.split("New Question:")[0].strip()
    if "analysis" in f:
        out["analysis"] = f["analysis"]
    if answer is not None:
        out["new_answer"] = answer.split("New Question:")[0].strip()
    return out


def demonstrations(role: str, task: str, mode: Mode) -> list[tuple[dict[str, str], list[dict[str, str]]]]:
    """(instance, replies) pairs of the official demonstrations for `role` on `task` in `mode`.

    Args:
        role: `generator`, `verifier` or `option` (the official `option_generator`).
        task: phalanx's task family; tasks without an official dataset get none.
        mode: the evolve mode. The verifier and option generator use the official `origin`
            demonstrations for rewrite modes and the mode's own for sub-ability probes.

    Returns:
        Planning demonstrations hold one instance and several replies (all steps, first step,
        ...); the others one reply each. Empty when the data file is not shipped.
    """
    data = official_prompts()
    dataset = DATASETS.get(task)
    if data is None or dataset is None:
        return []
    official_role = "option_generator" if role == "option" else role
    by_mode = data["generation"].get(official_role, {})
    mode_key = _mode_name(mode) if role == "generator" or mode.is_sub_ability else "origin"
    pairs = by_mode.get(mode_key, {}).get(dataset, [])
    return [(demo_instance(p[0]), [demo_reply(role, out) for out in p[1:]]) for p in pairs]


def render_demonstrations(role: str, task: str, mode: Mode) -> str:
    """The demonstrations as prompt text: example instances and the replies they got (empty if none)."""
    blocks = []
    for i, (instance, replies) in enumerate(demonstrations(role, task, mode), start=1):
        lines = [f"Example {i}, instance: {json.dumps(instance, ensure_ascii=False)}"]
        for j, reply in enumerate(replies, start=1):
            label = "reply" if len(replies) == 1 else f"reply {j}"
            lines.append(f"Example {i}, {label}: {json.dumps(reply, ensure_ascii=False)}")
        blocks.append("\n".join(lines))
    return "\n".join(blocks)


# -- evaluation prompts ---------------------------------------------------------------------------


def evaluation_messages(
    task: str, context: str, question: str, options: list[str] | None = None
) -> list[Message] | None:
    """The official evaluation chat for one item, or None when `task` has no official prompt.

    Rewrite modes and originals: the dataset's instruction as the system message, its two
    demonstrations as user/assistant turns, then `Context: ...\\nQuestion: ...`. Sub-ability
    probes: "Just output 'B' or 'A'" with the question and the two options.
    """
    data = official_prompts()
    if data is None:
        return None
    if options is not None:
        # The official code glues context and question together; a newline keeps them apart.
        query = (
            f"Question: {context + chr(10) if context else ''}{question}\nA. {options[0]}\nB. {options[1]}"
        )
        return [Message.system(data["choice"]["instruction"]), Message.user(query)]
    dataset = DATASETS.get(task)
    if dataset is None:
        return None
    prompt = data["evaluation"][dataset]
    messages = [Message.system(prompt["instruction"])]
    for demo_in, demo_out in prompt["demos"]:
        messages += [Message.user(demo_in), Message.assistant(demo_out)]
    query = (f"Context: {context}\n" if context else "") + f"Question: {question}"
    return [*messages, Message.user(query)]
