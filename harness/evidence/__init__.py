"""Evidence of a run: the per-check recorder, and the signed manifest that seals it."""
