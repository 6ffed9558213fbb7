"""Communication-security probes: TLS versions, suites, certificates; SSH algorithms; cleartext."""
