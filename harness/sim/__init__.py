"""The emulated infusion pump IP-100 that CI and `medsec demo` probe instead of hardware.

`harness.sim.pump.EmulatedPump` runs every service on one loopback address;
`harness.sim.runner.run` is what `medsec sim` and `python -m harness.sim` call.
This package imports nothing heavy on purpose: `harness.sim.weaknesses` is read by
reports and tests that never start a pump.
"""
