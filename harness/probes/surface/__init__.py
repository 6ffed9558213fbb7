"""Attack-surface probes: open ports, what the console prints."""
