"""FGO: fine-grained optimisation masks (StepCoder; methods.md Part C §1).

StepCoder leaves tokens of code that no unit test executed out of the PPO loss.
Here coverage is line-level (the harness traces the candidate with `sys.settrace`,
the inferred reading in methods.md). A *statement* is dead when its first line
is executable (it has bytecode) yet no test executed it; all lines of a dead statement
are dead. A token gets mask 0 when it overlaps the text of a dead line (indentation
and the newline excluded), 1 otherwise: comments and blank lines between live code
stay in the loss.
"""

from __future__ import annotations

import ast
import types
from collections.abc import Iterable, Sequence
from typing import Any

from phalanx.agents.stepcoder.cccs import source_lines


def executable_lines(source: str) -> set[int]:
    """Lines that carry bytecode in `source` (what a line tracer could ever report)."""
    code = compile(source, "<candidate>", "exec")
    lines: set[int] = set()
    stack = [code]
    while stack:
        co = stack.pop()
        lines.update(line for _, _, line in co.co_lines() if line is not None and line > 0)
        stack.extend(c for c in co.co_consts if isinstance(c, types.CodeType))
    return lines


def dead_lines(source: str, covered: Iterable[int]) -> set[int]:
    """Lines of statements that no test executed.

    Args:
        source: the whole program that ran.
        covered: lines executed by at least one test (`ProgramResult.coverage`).
    """
    executed = set(covered)
    runnable = executable_lines(source)
    dead: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.stmt):
            continue
        if node.lineno in runnable and node.lineno not in executed:
            dead.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return dead


def dead_char_spans(text: str, dead: set[int], *, first_line: int = 1) -> list[tuple[int, int]]:
    """Character spans of `text` on dead lines (indentation and newline excluded).

    Args:
        text: the generated part of the program.
        dead: dead line numbers of the whole program.
        first_line: the program line `text` starts on (its first line may be partial).
    """
    spans: list[tuple[int, int]] = []
    pos = 0
    for i, line in enumerate(source_lines(text)):
        body = line.rstrip("\r\n")
        if first_line + i in dead:
            indent = len(body) - len(body.lstrip())
            if indent < len(body):
                spans.append((pos + indent, pos + len(body)))
        pos += len(line)
    return spans


def mask_from_offsets(offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]]) -> Any:
    """A float tensor: 0 for tokens whose character span overlaps a dead span, else 1."""
    import torch

    mask = torch.ones(len(offsets), dtype=torch.float32)
    for t, (s, e) in enumerate(offsets):
        if e <= s:
            continue
        if any(s < de and ds < e for ds, de in spans):
            mask[t] = 0.0
    return mask


def fgo_mask(
    program: str,
    covered: Iterable[int],
    tokenizer: Any,
    *,
    completion_start: int = 0,
    return_token_ids: bool = False,
) -> Any:
    """The FGO mask over the tokens of the generated part of `program`.

    Args:
        program: the whole executed program (prompt prefix + completion).
        covered: program lines executed by at least one unit test.
        tokenizer: a Hugging Face *fast* tokenizer (offsets are needed to align lines and tokens).
        completion_start: character offset in `program` where the generated text starts
            (`len(prefix)` for a CCCS subtask).
        return_token_ids: also return the token ids the mask is aligned with.

    Returns:
        A `torch.float32` tensor of shape `(n_tokens,)` (and the token id list if asked),
        ready to multiply a per-token policy loss.
    """
    completion = program[completion_start:]
    first_line = program.count("\n", 0, completion_start) + 1
    spans = dead_char_spans(completion, dead_lines(program, covered), first_line=first_line)
    enc = tokenizer(completion, add_special_tokens=False, return_offsets_mapping=True)
    mask = mask_from_offsets(enc["offset_mapping"], spans)
    return (mask, list(enc["input_ids"])) if return_token_ids else mask
