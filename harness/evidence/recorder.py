"""One check's evidence: artifacts under `<run>/evidence/<check-id>/<target>/`, a summary.

Text and JSON pass through the run's `Redactor` before they touch the disk; transcripts
are saved however the check ends. The run's signed manifest is `evidence.manifest`'s job.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core.redact import Redactor
from harness.core.transcript import Transcript

INLINE_LIMIT = 16 * 1024  # characters of one artifact shown inline in the report


def slug(text: str) -> str:
    """A file-system-safe form of a target name."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._")
    return cleaned[:80] or "_"


@dataclass
class Artifact:
    """One evidence file, and the text the report shows inline for it (if any)."""

    path: str  # relative to the run folder
    title: str
    inline: str | None = None


@dataclass
class EvidenceRecorder:
    """Writes one check's evidence; every text goes through the redactor first."""

    run_dir: Path
    check_id: str
    target: str
    redactor: Redactor
    artifacts: list[Artifact] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)
    reason: str = ""  # why a passing check passed, in one line
    _transcripts: list[tuple[Transcript, str]] = field(default_factory=list)

    @property
    def folder(self) -> Path:
        return self.run_dir / "evidence" / self.check_id / slug(self.target)

    def _free_path(self, name: str) -> Path:
        """`name` in the check's folder, or `stem-2.ext`, `-3`... when this check already
        wrote that name: a transcript's JSON must not replace the result of the same name."""
        path = self.folder / slug(name)
        taken = {a.path for a in self.artifacts}
        stem, suffix, n = path.stem, path.suffix, 2
        while path.relative_to(self.run_dir).as_posix() in taken:
            path = self.folder / f"{stem}-{n}{suffix}"
            n += 1
        return path

    def _write(self, name: str, data: bytes, title: str, inline: str | None) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._free_path(name)
        path.write_bytes(data)
        relative = path.relative_to(self.run_dir).as_posix()
        if inline is not None and len(inline) > INLINE_LIMIT:
            inline = inline[:INLINE_LIMIT] + f"\n... ({len(inline)} characters in the file)"
        self.artifacts.append(Artifact(relative, title, inline))
        return path

    def text(self, name: str, content: str, title: str | None = None, show: bool = True) -> Path:
        clean = self.redactor.text(content)
        return self._write(name, clean.encode(), title or name, clean if show else None)

    def json(self, name: str, obj: Any, title: str | None = None, show: bool = False) -> Path:
        clean = self.redactor.text(json.dumps(obj, indent=2, sort_keys=True, default=str))
        return self._write(name, clean.encode() + b"\n", title or name, clean if show else None)

    def binary(self, name: str, data: bytes, title: str | None = None) -> Path:
        """Raw protocol bytes (hello, image), secrets masked; shown in the report as a link."""
        return self._write(name, self.redactor.bytes(data), title or name, None)

    def run_file(self, name: str, content: str, title: str) -> Path:
        """A text artifact at the top of the run folder, where other tools look for it
        by name (SURFACE-007's `observed.cdx.json`); listed with this check's evidence."""
        path = self.run_dir / slug(name)
        path.write_bytes(self.redactor.text(content).encode())
        self.artifacts.append(Artifact(path.name, title, None))
        return path

    def new_transcript(self, name: str, label: str) -> Transcript:
        """A transcript saved with this check's evidence however the check ends."""
        transcript = Transcript(label)
        self._transcripts.append((transcript, name))
        return transcript

    def flush_transcripts(self) -> None:
        """Write every transcript begun with `new_transcript` (see `transcript`)."""
        for transcript, name in self._transcripts:
            self.transcript(name, transcript)
        self._transcripts.clear()

    def transcript(
        self, name: str, transcript: Transcript, *, json: bool = True, show: bool = True
    ) -> None:
        """A transcript as readable text (shown inline) and as JSON with hex bytes, its
        raw bytes scrubbed of secrets before either rendering."""
        label, clean = transcript.label, transcript.scrubbed(self.redactor.bytes)
        self.text(f"{name}.txt", clean.to_text(), f"transcript: {label}", show)
        if json:
            document = self.redactor.text(clean.json_text())
            self._write(f"{name}.json", document.encode(), f"transcript (JSON): {label}", None)

    def note(self, line: str) -> None:
        """A line of the readable summary shown at the top of the check's evidence."""
        self.summary.append(self.redactor.text(line))
