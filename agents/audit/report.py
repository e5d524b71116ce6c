"""report.html: per-scenario bar chart (with / without policies, paper GPT-4 and human rows) and a
drill-down per record, rendered with jinja2; figures are matplotlib PNGs embedded as base64."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from phalanx.agents.audit.summary import AuditSummary

ORDER = ["MQ", "JA:Burple", "JA:DeltaGPT", "JA:GPT-4 Simulator", "NM", "RC", "HF", "EC", "confict"]


def _chart(summary: AuditSummary) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [g for g in ORDER if g in summary.scenarios]
    series: list[tuple[str, list[float | None]]] = []
    if summary.baseline is not None:
        base = summary.baseline.scenarios
        series.append(("no policies", [base[g].unsafe_rate if g in base else None for g in groups]))
    series.append((f"policies: {summary.policies}", [summary.scenarios[g].unsafe_rate for g in groups]))
    for who, row in summary.paper.items():
        series.append(
            (f"paper {who} (human-judged)", [None if g not in row else row[g] / 100 for g in groups])
        )
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(groups)), 4.2), dpi=110)
    width = 0.8 / len(series)
    for k, (label, values) in enumerate(series):
        xs = [i + k * width - 0.4 + width / 2 for i in range(len(groups))]
        ax.bar(xs, [100 * (v or 0) for v in values], width, label=label)
    ax.set_xticks(range(len(groups)), groups, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("unsafe %")
    ax.set_ylim(0, 105)
    ax.legend(fontsize=7, ncols=len(series), loc="upper center", bbox_to_anchor=(0.5, -0.22), frameon=False)
    ax.set_title(f"ToolSword replay: {summary.model}", fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def write_report(path: str | Path, summary: AuditSummary, rows: list[dict[str, Any]]) -> Path:
    """Render report.html from a summary and the per-record rows."""
    env = Environment(
        loader=FileSystemLoader(Path(__file__).parent), autoescape=select_autoescape(["html", "j2"])
    )
    groups = [g for g in ORDER if g in summary.scenarios]
    html = env.get_template("report.html.j2").render(
        summary=summary,
        groups=groups,
        chart=_chart(summary),
        rows=rows,
        paper=summary.paper,
    )
    out = Path(path)
    out.write_text(html, encoding="utf-8")
    return out
