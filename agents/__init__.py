"""phalanx.agents: the async agent-graph runtime and the agent systems built on it.

The runtime's public names (defined in `phalanx.agents.graph`) are re-exported here;
subsystems (`tool_agent`, `longagent`, `selfevolve`, `stepcoder`, `audit`) are subpackages.
"""

from phalanx.agents.graph import *  # noqa: F403 - the runtime's public surface, listed once there
from phalanx.agents.graph import __all__ as __all__
