"""phalanx.policies."""
