"""The rich live view folds events into one row per node run."""

from __future__ import annotations

from rich.console import Console

from phalanx.agents import RunEvent
from phalanx.agents.graph.live import LiveView


def ev(kind: str, node: str | None = "work", task: str | None = "t1", **data) -> RunEvent:
    return RunEvent(kind=kind, node=node, task_id=task, data=data, duration_s=data.pop("duration_s", None))


def test_rows_track_status_retries_tokens_and_parallel_runs() -> None:
    view = LiveView("demo")
    view.update(ev("node_start"))
    view.update(ev("token", text="hello "))
    view.update(ev("token", text="world"))
    view.update(ev("error", error="ConnectionError: down", attempt=1, will_retry=True, backoff_s=0.5))
    assert view.rows["t1"].status == "retrying" and view.rows["t1"].attempts == 2
    view.update(ev("node_end", duration_s=1.25))
    view.update(ev("node_start", task="t2"))
    view.update(ev("interrupt", task="t2", id="i1", value="approve?"))
    view.update(ev("node_start", node="merge", task="t3"))
    view.update(ev("error", node="merge", task="t3", error="boom", attempt=1, will_retry=False))
    view.update(ev("done", node=None, task=None, state=None))

    rows = {r.label: r for r in view.rows.values()}
    assert rows["work"].status == "done" and rows["work"].tokens == 2 and rows["work"].duration_s == 1.25
    assert rows["work #2"].status == "waiting" and "approve?" in rows["work #2"].detail
    assert rows["merge"].status == "failed"
    assert view.done is not None

    console = Console(width=120, record=True)
    console.print(view.render())
    text = console.export_text()
    assert "work #2" in text and "waiting" in text and "1.25s" in text
