"""Robustness probes: malformed and oversized input, floods, slow clients and bounded fuzzing,
each followed by liveness (ROBUST)."""
