"""A transcript of its own for every connection a probe opens, so connections made at once
are never interleaved in one record (the evidence of the AUTH and CRYPTO suites)."""

from __future__ import annotations

import itertools
from collections.abc import Callable

from harness.core.transcript import Transcript
from harness.evidence.recorder import EvidenceRecorder


def per_connection(evidence: EvidenceRecorder, name: str) -> Callable[[str], Transcript]:
    """`label -> Transcript`, saved with the check's evidence as `NAME-01`, `NAME-02`..."""
    numbers = itertools.count(1)
    return lambda label: evidence.new_transcript(f"{name}-{next(numbers):02d}", label)
