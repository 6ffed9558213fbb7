"""Robustness probes: malformed input, load and fuzzing, each followed by liveness."""
