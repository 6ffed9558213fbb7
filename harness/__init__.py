"""medsec-harness: security checks for connected medical devices, driven by device profiles."""

__version__ = "0.1.0"
