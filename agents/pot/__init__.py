"""phalanx.agents.pot: program-of-thought execution in the sandbox (R³'s PoT reward runs through it).

`make_pot_reward(SandboxProgramRunner())` (from `phalanx.models.trainers`) is the reward of
`train_r3(..., config=R3Config(style="pot"))`.
"""

from phalanx.agents.pot.runner import SandboxProgramRunner

__all__ = ["SandboxProgramRunner"]
