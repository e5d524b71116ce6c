"""phalanx.agents.audit: replay ToolSword scenarios against an agent, judge them, report.

`audit_toolsword(model, policies, judge, scenarios, data_dir, out_dir, mode=...)` is the entry point
(CLI: `phalanx audit toolsword`); `mode` is `agent` (phalanx's loop) or `paper` (ToolSword's
one-turn setting). Importing this package registers the reference agents `scripted:comply` and
`scripted:refuse`.
"""

from phalanx.agents.audit import scripted_agents  # noqa: F401  (registers scripted:comply / refuse)
from phalanx.agents.audit.agreement import JUDGE_AGREEMENT, judge_agreement
from phalanx.agents.audit.harness import audit_toolsword, judge_row, run_record
from phalanx.agents.audit.judges import Outcome, Verdict, judge_rules
from phalanx.agents.audit.replay import MODES
from phalanx.agents.audit.summary import (
    PAPER,
    AuditSummary,
    BaselineSummary,
    BenignBlocks,
    HarmlessOutputs,
    ScenarioRate,
    summarize,
)

__all__ = [
    "JUDGE_AGREEMENT",
    "MODES",
    "PAPER",
    "AuditSummary",
    "BaselineSummary",
    "BenignBlocks",
    "HarmlessOutputs",
    "Outcome",
    "ScenarioRate",
    "Verdict",
    "audit_toolsword",
    "judge_agreement",
    "judge_row",
    "judge_rules",
    "run_record",
    "summarize",
]
