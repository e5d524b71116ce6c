"""phalanx.tools."""
