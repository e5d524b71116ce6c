"""Property tests of the text handling: tool-call parsing and per-row streaming with stop strings."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phalanx.models import GenerationConfig
from phalanx.models.hf_generate import GenRequest, RowMonitor, find_stop
from phalanx.models.toolparse import first_json_object, parse_tool_calls

names = st.from_regex(r"[a-z][a-z_]{0,12}", fullmatch=True)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
args_dicts = st.dictionaries(st.text(min_size=1, max_size=8), json_values, max_size=4)
prose = st.text(alphabet=st.characters(blacklist_characters="{}[]<>"), max_size=30)


@given(before=prose, after=prose, name=names, args=args_dicts, tagged=st.booleans())
def test_tool_call_round_trips_through_text(before, after, name, args, tagged) -> None:
    call = json.dumps({"name": name, "arguments": args})
    text = f"{before}<tool_call>{call}</tool_call>{after}" if tagged else f"{before}{call}{after}"
    content, calls = parse_tool_calls(text, {name})
    assert [c.name for c in calls] == [name]
    assert json.loads(calls[0].arguments) == args
    assert content == (before + after).strip()


@given(text=prose, name=names, args=args_dicts)
def test_unknown_tools_and_plain_text_stay_content(text, name, args) -> None:
    assert parse_tool_calls(text, {name}) == (text, [])
    other = json.dumps({"name": name + "x", "arguments": args})
    assert parse_tool_calls(other, {name}) == (other, [])


@given(obj=st.dictionaries(st.text(max_size=5), json_values, max_size=3), noise=prose)
def test_first_json_object_finds_the_object(obj, noise) -> None:
    assert json.loads(first_json_object(f"{noise}{json.dumps(obj)}{noise}")) == obj


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(data=st.data())
def test_streamed_pieces_equal_the_trimmed_answer(tokenizer, data) -> None:
    """Whatever the tokens and stop string, the stream never passes the stop and ends equal to the answer."""
    tokens = data.draw(st.lists(st.integers(7, len(tokenizer) - 1), min_size=1, max_size=25))
    full = tokenizer.decode(tokens, skip_special_tokens=True)
    stops = []
    if full and data.draw(st.booleans()):
        start = data.draw(st.integers(0, len(full) - 1))
        stops = [full[start : start + data.draw(st.integers(1, 4))]]
    pieces: list[str] = []
    request = GenRequest([1], GenerationConfig(max_new_tokens=len(tokens), stop=stops), pieces.append)
    monitor = RowMonitor(tokenizer, [request], width=1, eos_ids={2})
    ids = torch.tensor([[1]])
    for tok in tokens:
        ids = torch.cat([ids, torch.tensor([[tok]])], dim=1)
        if bool(monitor(ids)[0]):
            break
    monitor.flush(0, ids[0, 1 : 1 + monitor.length[0]].tolist())
    cut = find_stop(full, stops) if stops else -1
    expected = full if cut < 0 else full[:cut]
    assert "".join(pieces) == expected
