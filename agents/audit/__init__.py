"""phalanx.agents.audit: replay ToolSword scenarios against an agent, judge them, report.

`audit_toolsword(model, policies, judge, scenarios, data_dir, out_dir)` is the entry point
(CLI: `phalanx audit toolsword`). Importing this package registers the reference agents
`scripted:comply` and `scripted:refuse`.
"""

from phalanx.agents.audit import scripted_agents  # noqa: F401  (registers scripted:comply / refuse)
from phalanx.agents.audit.harness import audit_toolsword, run_record
from phalanx.agents.audit.judges import Outcome, judge_rules
from phalanx.agents.audit.summary import PAPER, summarize

__all__ = ["PAPER", "Outcome", "audit_toolsword", "judge_rules", "run_record", "summarize"]
