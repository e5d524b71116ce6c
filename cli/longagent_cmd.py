"""CLI commands: `phalanx longagent ask` and `phalanx longagent niah` (LongAgent teams)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Literal

import typer

from phalanx.cli.errors import fail

longagent_app = typer.Typer(
    name="longagent",
    help="LongAgent teams: a leader and one member per chunk answer questions about long documents.",
    no_args_is_help=True,
)

_LEADER_HELP = "Leader model spec (hf:DIR, openai:URL#NAME, scripted:NAME...)."
_MEMBER_HELP = "Member model spec (one member per chunk, all sharing this model)."


_CHUNK_HELP = (
    "Tokens per member chunk: a number, or 'fill' (the member's context); default the official 1500."
)


_FIRST_HELP = (
    "'leader' (official: the leader writes round 1's instruction) or 'question' (the question itself)."
)
_REPLIES_HELP = (
    "'json' (official: every reply a JSON object) or 'text' (members and the last answer write prose, "
    "phalanx wraps it; better for small models)."
)


def _chunk_tokens(value: str | None) -> int | str | None:
    if value is None or value == "fill":
        return value
    try:
        return int(value)
    except ValueError:
        fail(f"--chunk-tokens must be a number or 'fill', got {value!r}")


def _team(
    leader,
    member,
    chunk_tokens,
    max_rounds,
    communication,
    checkpoint,
    chunk_align="token",
    first_instruction="leader",
    replies="json",
):
    from phalanx.agents.longagent import LongAgentTeam
    from phalanx.models import ModelError

    try:
        return LongAgentTeam(
            leader,
            member,
            chunk_tokens=_chunk_tokens(chunk_tokens),
            chunk_align=chunk_align,
            max_rounds=max_rounds,
            communication=communication,
            checkpointer=checkpoint,
            first_instruction=first_instruction,
            replies=replies,
        )
    except (ModelError, ValueError) as exc:
        fail(str(exc))


@longagent_app.command("ask")
def ask(
    question: str | None = typer.Option(None, "--question", "-q", help="What the team should answer."),
    doc: Path | None = typer.Option(None, "--doc", help="Text file to read (omit with --resume)."),
    leader: str = typer.Option("scripted:longagent-reader", "--leader", help=_LEADER_HELP),
    member: str = typer.Option("scripted:longagent-reader", "--member", help=_MEMBER_HELP),
    chunk_tokens: str | None = typer.Option(None, help=_CHUNK_HELP),
    chunk_align: str = typer.Option(
        "token", help="'token' (hard cut) or 'sentence' (cut at a sentence start)."
    ),
    max_rounds: int = typer.Option(3, help="Rounds before the leader must answer."),
    communication: bool = typer.Option(True, help="Settle conflicting member answers with mergers."),
    first_instruction: str = typer.Option("leader", help=_FIRST_HELP),
    replies: str = typer.Option("json", help=_REPLIES_HELP),
    checkpoint: str = typer.Option("memory", help="'memory' or 'sqlite:PATH' (resumable across runs)."),
    thread_id: str | None = typer.Option(None, help="Run id (for --resume with a sqlite checkpoint)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run --thread-id from its checkpoint."),
    task_description: str | None = typer.Option(
        None, help="The leader's task description (default: the official HotpotQA-style one)."
    ),
    report: Path | None = typer.Option(
        None, help="Write the full JSON report (events, conflict graph) here."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Answer QUESTION about a long document with a LongAgent team."""
    from rich.console import Console

    from phalanx.agents import ThreadNotFound
    from phalanx.agents.longagent import LongAgentRunError

    if resume and not thread_id:
        fail("--resume needs --thread-id (the id printed by the run that stopped)")
    text = None
    if not resume:
        if not question:
            fail("pass --question TEXT (what the team should answer)")
        if doc is None:
            fail("pass --doc FILE (the document to read), or --resume --thread-id ID")
        if not doc.is_file():
            fail(f"--doc {doc} is not a file")
        text = doc.read_text(errors="replace")
    team = _team(
        leader,
        member,
        chunk_tokens,
        max_rounds,
        communication,
        checkpoint,
        chunk_align,
        first_instruction,
        replies,
    )
    console = Console(stderr=True)

    async def go():
        answered, result = 0, None
        with console.status("LongAgent team working...") as status:
            stream = team.astream(
                text, None if resume else question, thread_id=thread_id, task_description=task_description
            )
            async for ev in stream:
                if ev["kind"] == "member_response":
                    answered += 1
                    status.update(f"round {ev['round']}: {answered} member answers")
                elif ev["kind"] == "merger":
                    status.update(f"round {ev['round']}: merger {ev['merger']} -> {ev['decision']}")
                elif ev["kind"] == "result":
                    result = ev["result"]
        await team.aclose()
        return result

    try:
        result = asyncio.run(go())
    except LongAgentRunError as exc:
        if checkpoint == "memory":
            fail(
                f"{exc}\n(a memory checkpoint ends with this process: run with --checkpoint sqlite:PATH to resume)"
            )
        fail(f"{exc}\n(continue with --resume --thread-id {exc.thread_id} --checkpoint {checkpoint})")
    except (ValueError, ThreadNotFound) as exc:
        fail(str(exc))
    if report:
        report.write_text(json.dumps(result.report(), indent=2))
    if as_json:
        typer.echo(json.dumps(result.report(with_graph=False)))
    else:
        typer.echo(f"answer: {result.answer}")
        typer.echo(
            f"status: {result.status} after {result.rounds} round(s), {result.num_members} members, "
            f"thread {result.thread_id}"
        )
        if result.failure is not None:
            typer.echo(
                f"the leader gave no valid answer ({result.failure}); pass --report FILE to see every raw reply",
                err=True,
            )


@longagent_app.command("niah")
def niah(
    model: str = typer.Option(
        "scripted:longagent-reader", "--model", help="Member (and default leader) spec."
    ),
    leader: str | None = typer.Option(None, "--leader", help="Leader spec (default: --model)."),
    lengths: str = typer.Option("8k,32k,128k", help="Comma-separated document lengths in member tokens."),
    depths: str = typer.Option("0,25,50,75,100", help="Comma-separated needle depths in percent."),
    needles: str = typer.Option("single", help="'single' (one needle) or 'multi' (two-hop needles)."),
    out: Path = typer.Option(
        Path("niah-results"), "--out", help="Folder for results.jsonl, heatmap.png, report.html."
    ),
    corpus: Path | None = typer.Option(
        None, help="Haystack text file or folder of .txt (default: built-in)."
    ),
    chunk_tokens: str | None = typer.Option(None, help=_CHUNK_HELP),
    chunk_align: str = typer.Option(
        "token", help="'token' (hard cut) or 'sentence' (cut at a sentence start)."
    ),
    max_rounds: int = typer.Option(3, help="Rounds before the leader must answer."),
    communication: bool = typer.Option(True, help="Settle conflicting member answers with mergers."),
    first_instruction: str = typer.Option("leader", help=_FIRST_HELP),
    replies: str = typer.Option("json", help=_REPLIES_HELP),
    seed: int = typer.Option(0, help="Seeds needles and the built-in corpus."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Needle-in-a-haystack sweep: depth x length accuracy of a LongAgent team."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from phalanx.agents.longagent import NiahSummary, load_corpus, parse_depths, parse_lengths, run_niah

    if needles not in ("single", "multi"):
        fail(f"--needles must be 'single' or 'multi', got {needles!r}")
    kind: Literal["single", "multi"] = "multi" if needles == "multi" else "single"
    try:
        length_list = parse_lengths(lengths)
        depth_list = parse_depths(depths)
        text = load_corpus(corpus) if corpus else None
    except (ValueError, FileNotFoundError) as exc:
        fail(str(exc))
    team = _team(
        leader or model,
        model,
        chunk_tokens,
        max_rounds,
        communication,
        "memory",
        chunk_align,
        first_instruction,
        replies,
    )
    total = len(length_list) * len(depth_list)
    with Progress(
        TextColumn("niah"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
    ) as progress:
        task = progress.add_task("", total=total)

        def tick(r):
            mark = "ok" if r.exact_match else "miss"
            progress.update(task, advance=1, description=f"{r.length} tok @ {r.depth:g}%: {mark}")

        try:
            results = asyncio.run(
                run_niah(
                    lambda: team,
                    length_list,
                    depth_list,
                    kind,
                    out_dir=out,
                    corpus=text,
                    seed=seed,
                    on_result=tick,
                )
            )
        except ValueError as exc:
            fail(str(exc))
    summary = NiahSummary.of(results, out)
    if as_json:
        typer.echo(summary.model_dump_json())
    else:
        typer.echo(f"{summary.cases} cases, exact match {summary.exact_match:.3f}; report: {summary.report}")


def register(app: typer.Typer) -> None:
    """Add the `longagent` command group to the root app."""
    app.add_typer(longagent_app, name="longagent")
