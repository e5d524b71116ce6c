"""The evaluation report: a JSON file, and an HTML page with a table and a matplotlib chart."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

from phalanx.agents.selfevolve.evaluate import EvaluationResult

RESULTS_FILE = "results.json"
REPORT_FILE = "report.html"


def accuracy_chart_png(result: EvaluationResult) -> bytes:
    """A grouped bar chart (mode on x, one bar per model) as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(result.modes)), 3.6), dpi=100)
    width = 0.8 / max(1, len(result.models))
    for k, model in enumerate(result.models):
        xs = [i + k * width for i in range(len(result.modes))]
        ys = [(s.accuracy if (s := result.score(model, m)) else 0.0) * 100 for m in result.modes]
        ax.bar(xs, ys, width=width, label=model)
    ax.set_xticks([i + width * (len(result.models) - 1) / 2 for i in range(len(result.modes))])
    ax.set_xticklabels(result.modes, rotation=30, ha="right")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 105)
    ax.legend(fontsize="small")
    ax.set_title("Accuracy on originals and evolved modes")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def render_html(result: EvaluationResult) -> str:
    """The HTML report: per mode x model accuracy, change from the original, and the chart."""
    head = "".join(f"<th>{html.escape(m)}</th>" for m in result.models)
    rows = []
    for mode, scores in result.table():
        cells = []
        for s in scores:
            if s is None:
                cells.append("<td>-</td>")
                continue
            delta = f" <small>({s.delta_points(1)})</small>" if s.delta is not None else ""
            cells.append(f"<td>{s.percent(1)}{delta}<br><small>n={s.n}</small></td>")
        rows.append(f"<tr><th>{html.escape(mode)}</th>{''.join(cells)}</tr>")
    chart = base64.b64encode(accuracy_chart_png(result)).decode()
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>phalanx self-evolving benchmark report</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:center}</style></head><body>"
        "<h1>Self-evolving benchmark report</h1>"
        f"<p>Data: <code>{html.escape(result.data_dir)}</code>. Accuracy per model and mode; in brackets the "
        "change from the model's accuracy on the originals (percentage points). Sub-ability modes are A/B "
        "choices.</p>"
        f"<table><tr><th>mode</th>{head}</tr>{''.join(rows)}</table>"
        f"<p><img alt='accuracy chart' src='data:image/png;base64,{chart}'></p></body></html>"
    )


def write_report(result: EvaluationResult, out_dir: str | Path) -> Path:
    """Write `results.json` and `report.html` into `out_dir`; returns the HTML path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / RESULTS_FILE).write_text(result.model_dump_json(indent=2) + "\n", encoding="utf-8")
    path = out / REPORT_FILE
    path.write_text(render_html(result), encoding="utf-8")
    return path
