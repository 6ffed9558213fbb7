"""Robustness probes: malformed and oversized input, floods and slow clients (ROBUST)."""
