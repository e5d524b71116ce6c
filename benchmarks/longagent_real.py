"""LongAgent on the real model: a team of SmolLM2-135M-Instruct members vs the model alone, past its window.

Documents: real English text (the licence texts every Debian system ships in
/usr/share/common-licenses; phalanx's generated corpus where they are missing, said in
the JSON line), cut to `--length` tokens of the model's tokenizer (16K by default, twice
SmolLM2's 8K window), with one inserted fact (`The secret code of the <place> vault is
<5 digits>.`) at `--placements` depths spread evenly from 0 % to 100 %; the question asks
for the code.

Contenders, on the same documents:
* `team_official`: a LongAgent team, SmolLM2 as leader and as every member, with the
  official protocol (the leader writes every instruction, every reply is JSON; the default
  chunk size; members of concurrent cases decode together).
* `team_text`: the same team with `first_instruction="question"` and `replies="text"`
  (round 1 asks the question itself; members and the last answer write prose).
* `single_full`: the model reading the whole document at once, question after it
  (positions past its 8K window: what a user gets by just pasting the document).
* `single_window`: the model reading the last part of the document that fits its window.

Scoring: the 5-digit code appears in the answer (`contains_match`), and exact match after
normalisation. The LongAgent paper's claim holds here if the team beats the model alone.
Prints one JSON line; each finished case is also one JSON line on stderr as it comes (a run cut
short still tells what it measured).

Usage: python benchmarks/longagent_real.py [--length 16000] [--placements 20] [--concurrency 4] [--teams team_official,team_text]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from phalanx.agents.longagent import LongAgentTeam
from phalanx.agents.longagent.chunking import HFTokenizer
from phalanx.agents.longagent.niah import NiahCase, build_case, contains_match, exact_match
from phalanx.models import GenerationConfig, Message, ModelRequestError
from phalanx.models.hf import HFChatModel

LICENCES = Path("/usr/share/common-licenses")


def real_text() -> tuple[str | None, str]:
    """Concatenated licence texts (each file once), or None when the folder is missing."""
    if not LICENCES.is_dir():
        return None, "generated"
    parts = []
    for path in sorted(LICENCES.iterdir()):
        if path.is_file() and not path.is_symlink():
            parts.append(path.read_text(errors="replace"))
    return "\n\n".join(parts), f"{LICENCES} ({len(parts)} files)"


async def ask_alone(model: HFChatModel, case: NiahCase, window: int | None) -> str:
    """The model answers from the document (or its last `window` tokens) with the question after it."""
    document = case.document
    if window is not None:
        ids = model.tokenizer(document, add_special_tokens=False)["input_ids"]
        document = model.tokenizer.decode(ids[-window:])
    prompt = f"{document}\n\nQuestion: {case.question}"
    try:
        reply = await model.chat([Message.user(prompt)], config=GenerationConfig(max_new_tokens=32))
    except ModelRequestError as exc:
        return f"(error: {exc})"
    return reply.message.content or ""


def score(answers: list[str | None], cases: list[NiahCase]) -> dict[str, Any]:
    return {
        "contains": round(
            sum(contains_match(a, c.answer) for a, c in zip(answers, cases, strict=True)) / len(cases), 3
        ),
        "exact": round(
            sum(exact_match(a, c.answer) for a, c in zip(answers, cases, strict=True)) / len(cases), 3
        ),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default="smollm2-135m-instruct", help="a model store name or hf: directory"
    )
    parser.add_argument("--length", type=int, default=16000)
    parser.add_argument("--placements", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=4, help="cases run at once")
    parser.add_argument("--teams", default="team_official,team_text", help="which team settings to run")
    parser.add_argument(
        "--skip-single",
        action="store_true",
        help="teams only (the model-alone figures are known for these documents)",
    )
    args = parser.parse_args()
    load_avg = os.getloadavg()[0]

    model = HFChatModel.from_pretrained(args.model, context_limit=None)
    window = (model.model.config.max_position_embeddings or 8192) - 256
    tokenizer = HFTokenizer(model.tokenizer)
    corpus, source = real_text()
    depths = [round(100 * i / max(1, args.placements - 1), 1) for i in range(args.placements)]
    cases = [
        build_case(args.length, d, corpus=corpus, tokenizer=tokenizer, seed=i) for i, d in enumerate(depths)
    ]
    teams = {
        "team_official": LongAgentTeam(model, model),
        "team_text": LongAgentTeam(model, model, first_instruction="question", replies="text"),
    }
    gate = asyncio.Semaphore(args.concurrency)

    def progress(contender: str, case: NiahCase, answer: str | None, **extra: Any) -> None:
        # One line per finished case on stderr, so a run cut short still says what it measured.
        found = contains_match(answer, case.answer)
        line = {"contender": contender, "depth": case.depth, "found": found, "answer": (answer or "")[:80]}
        print(json.dumps({**line, **extra}), file=sys.stderr, flush=True)

    # The model alone first (minutes), then the teams (most of the run).
    async def alone(name: str, case: NiahCase, w: int | None) -> str:
        async with gate:
            answer = await ask_alone(model, case, w)
        progress(name, case, answer)
        return answer

    seconds: dict[str, float] = {}
    alone_out: dict[str, list[str]] = {}  # reading the whole document, reading the last window
    for name, w in () if args.skip_single else (("single_full", None), ("single_window", window)):
        started = time.perf_counter()
        alone_out[name] = list(await asyncio.gather(*(alone(name, c, w) for c in cases)))
        seconds[name] = round(time.perf_counter() - started, 1)

    async def run_team(name: str, team: LongAgentTeam, case: NiahCase) -> tuple[str | None, int]:
        async with gate:
            result = await team.arun(case.document, case.question)
        progress(name, case, result.answer, rounds=result.rounds)
        return result.answer, result.rounds

    team_out: dict[str, list[tuple[str | None, int]]] = {}
    for name, team in teams.items():
        if name not in args.teams.split(","):
            continue
        started = time.perf_counter()
        team_out[name] = await asyncio.gather(*(run_team(name, team, c) for c in cases))
        seconds[name] = round(time.perf_counter() - started, 1)

    singles = {name: score(out, cases) for name, out in alone_out.items()}
    best_single = max((v["contains"] for v in singles.values()), default=None)
    teams_scored = {name: score([a for a, _ in out], cases) for name, out in team_out.items()}
    line = {
        "benchmark": "longagent_real",
        "model": args.model,
        "length_tokens": args.length,
        "placements": len(cases),
        "text": source,
        "members": len(teams["team_text"].chunk(cases[0].document)),
        "chunk_tokens": teams["team_text"].chunk_tokens,
        **teams_scored,
        **singles,
        "team_beats_single": {
            name: None if best_single is None else v["contains"] > best_single
            for name, v in teams_scored.items()
        },
        "rounds_avg": {name: round(sum(r for _, r in out) / len(cases), 2) for name, out in team_out.items()},
        "seconds": seconds,
        "by_depth": [
            {
                "depth": c.depth,
                **{name: contains_match(out[i][0], c.answer) for name, out in team_out.items()},
                **{
                    name.removeprefix("single_"): contains_match(out[i], c.answer)
                    for name, out in alone_out.items()
                },
            }
            for i, c in enumerate(cases)
        ],
        "cpus": os.cpu_count(),
        "load_avg": round(load_avg, 2),
    }
    print(json.dumps(line))
    await model.aclose()


if __name__ == "__main__":
    asyncio.run(main())
