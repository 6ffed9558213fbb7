"""Protocol logic: each probe talks to the device through a transport and returns typed findings.

Probes never assert and never import pytest; checks in `testsuites/` compare their
findings with the profile's policy.
"""
