"""The base every layer stands on: errors, deadlines, scope, transcripts, redaction.

Imports nothing else of the harness."""
