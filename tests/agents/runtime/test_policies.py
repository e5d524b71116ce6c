"""Per-node retries (declared transient errors only, exponential backoff) and timeouts."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel

from phalanx.agents import END, START, GraphBuilder, NodeFailed, NodePolicy, NodeTimeout, RetryPolicy


class State(BaseModel):
    value: int = 0


def single(fn, policy: NodePolicy | None):
    return (
        GraphBuilder(State, name="one")
        .add_node("flaky", fn, policy=policy)
        .add_edge(START, "flaky")
        .add_edge("flaky", END)
        .compile(checkpointer=None)
    )


def fast_retry(**kw) -> NodePolicy:
    opts = {"max_attempts": 4, "retry_on": (ConnectionError,), "initial_s": 0.01, "jitter_s": 0.0} | kw
    return NodePolicy(retry=RetryPolicy(**opts))


async def test_retries_declared_error_until_success_with_exponential_backoff() -> None:
    calls: list[int] = []

    async def flaky(state: State) -> dict:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("service down")
        return {"value": len(calls)}

    runtime = single(flaky, fast_retry(multiplier=3.0))
    events = [ev async for ev in runtime.stream({})]
    assert events[-1].data["state"].value == 3
    retries = [e for e in events if e.kind == "error"]
    assert [e.data["attempt"] for e in retries] == [1, 2]
    assert all(e.data["will_retry"] for e in retries)
    assert "ConnectionError: service down" in retries[0].data["error"]
    backoffs = [e.data["backoff_s"] for e in retries]
    assert backoffs == pytest.approx([0.01, 0.03])


async def test_jitter_stays_within_bounds() -> None:
    calls: list[int] = []

    async def flaky(state: State) -> dict:
        calls.append(1)
        if len(calls) < 4:
            raise ConnectionError("again")
        return {}

    runtime = single(flaky, fast_retry(jitter_s=0.02, multiplier=2.0))
    retries = [e async for e in runtime.stream({}) if e.kind == "error"]
    for k, event in enumerate(retries):
        base = 0.01 * 2**k
        assert base <= event.data["backoff_s"] <= base + 0.02


async def test_undeclared_error_is_not_retried() -> None:
    calls: list[int] = []

    async def broken(state: State) -> dict:
        calls.append(1)
        raise ValueError("bad input")

    with pytest.raises(NodeFailed) as info:
        await single(broken, fast_retry()).run({})
    assert calls == [1]
    assert info.value.node == "flaky" and info.value.attempts == 1
    assert isinstance(info.value.error, ValueError)


async def test_exhausted_retries_name_node_attempts_and_last_error() -> None:
    calls: list[int] = []

    async def down(state: State) -> dict:
        calls.append(1)
        raise ConnectionError(f"refused #{len(calls)}")

    with pytest.raises(NodeFailed) as info:
        await single(down, fast_retry(max_attempts=3)).run({})
    err = info.value
    assert len(calls) == 3
    assert (err.node, err.attempts) == ("flaky", 3)
    assert str(err.error) == "refused #3" and err.__cause__ is err.error
    assert "'flaky'" in str(err) and "3 attempts" in str(err) and "refused #3" in str(err)


async def test_timeout_fails_the_node() -> None:
    async def stuck(state: State) -> dict:
        await asyncio.sleep(30)
        return {}

    with pytest.raises(NodeFailed) as info:
        await asyncio.wait_for(single(stuck, NodePolicy(timeout_s=0.05)).run({}), 10)
    assert isinstance(info.value.error, NodeTimeout)
    assert "0.05s" in str(info.value)


async def test_timeout_is_retried_when_declared() -> None:
    calls: list[int] = []

    async def slow_once(state: State) -> dict:
        calls.append(1)
        if len(calls) == 1:
            await asyncio.sleep(30)
        return {"value": 7}

    policy = NodePolicy(
        timeout_s=0.05, retry=RetryPolicy(retry_on=(TimeoutError,), initial_s=0.0, jitter_s=0.0)
    )
    out = await asyncio.wait_for(single(slow_once, policy).run({}), 10)
    assert out.value == 7 and len(calls) == 2


def test_retry_on_must_be_exception_types() -> None:
    with pytest.raises(ValueError, match="exception classes"):
        RetryPolicy(retry_on=("ConnectionError",))


async def test_router_failure_names_its_source() -> None:
    async def start(state: State) -> dict:
        return {}

    def choose(state: State) -> str:
        raise KeyError("no route")

    runtime = (
        GraphBuilder(State, name="r")
        .add_node("start", start)
        .add_edge(START, "start")
        .add_conditional_edges("start", choose, [END])
        .compile(checkpointer=None)
    )
    with pytest.raises(NodeFailed, match=r"start \(router choose\)"):
        await runtime.run()


async def test_step_limit_exceeded_is_a_clear_error() -> None:
    from phalanx.agents import StepLimitExceeded

    async def spin(state: State) -> dict:
        return {"value": state.value + 1}

    runtime = (
        GraphBuilder(State, name="loop")
        .add_node("spin", spin)
        .add_edge(START, "spin")
        .add_conditional_edges("spin", lambda s: "spin" if s.value < 100 else END, ["spin", END])
        .compile(checkpointer="memory", step_limit=5)
    )
    with pytest.raises(StepLimitExceeded, match="within 5 steps"):
        await runtime.run(thread_id="l")
    assert (await runtime.state("l")).values.value >= 4  # progress so far was kept


async def test_broad_retry_on_never_retries_an_interrupt() -> None:
    from phalanx.agents import interrupt

    calls: list[int] = []

    async def ask(state: State) -> dict:
        calls.append(1)
        return {"value": interrupt("number?")}

    policy = NodePolicy(retry=RetryPolicy(retry_on=(Exception,), initial_s=0.0, jitter_s=0.0))
    runtime = (
        GraphBuilder(State, name="ask")
        .add_node("ask", ask, policy=policy)
        .add_edge(START, "ask")
        .add_edge("ask", END)
        .compile(checkpointer="memory")
    )
    await runtime.run(thread_id="a")
    assert calls == [1]
    assert (await runtime.resume("a", value=42)).value == 42


async def test_a_nodes_own_timeout_error_is_not_mistaken_for_the_deadline() -> None:
    async def remote(state: State) -> dict:
        raise TimeoutError("upstream read timed out")

    with pytest.raises(NodeFailed) as info:
        await single(remote, NodePolicy(timeout_s=10)).run({})
    assert type(info.value.error) is TimeoutError


async def test_bad_send_payload_fails_the_receiving_node() -> None:
    from phalanx.agents import Send

    async def start(state: State) -> dict:
        return {}

    runtime = (
        GraphBuilder(State, name="send")
        .add_node("start", start)
        .add_node("flaky", start)
        .add_edge(START, "start")
        .add_conditional_edges("start", lambda s: [Send("flaky", {"value": "not a number"})], ["flaky"])
        .add_edge("flaky", END)
        .compile(checkpointer=None)
    )
    with pytest.raises(NodeFailed, match="'flaky'.*ValidationError"):
        await runtime.run()
