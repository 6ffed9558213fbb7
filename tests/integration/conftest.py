"""Fixtures the integration modules share."""

from tests.integration.pump_runs import pump_runs  # noqa: F401 (the session's pump runs)
