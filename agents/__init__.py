"""phalanx.agents."""
