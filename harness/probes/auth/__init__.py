"""Authentication probes: logins, lockout, sessions and privileges on every interface."""
