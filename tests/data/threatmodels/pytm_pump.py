#!/usr/bin/env python3
"""The infusion pump as an OWASP pytm model: the fixture `pytm_pump.json` is written from
this by pytm itself (`python pytm_pump.py --json pytm_pump.json`, pytm 1.4.0 in the .pytm
venv; tests/unit/test_tm_import.py regenerates it). The harness never runs this file."""

from pytm import TM, Actor, Boundary, Dataflow, Finding, Server

tm = TM("Infusion pump IP-100 (pytm)")
tm.description = "Therapy API over HTTPS and a service SSH on the pump"
tm.isOrdered = True

hospital = Boundary("Hospital network")
pump = Boundary("Pump")

clinician = Actor("Clinician")
clinician.inBoundary = hospital
technician = Actor("Service technician")
technician.inBoundary = hospital

api = Server("Therapy API")
api.inBoundary = pump
api.protocol = "HTTPS"
api.port = 443
api.controls.isHardened = True
api.controls.sanitizesInput = True
api.controls.encodesOutput = True
api.overrides = [
    # Accepted, not mitigated: the inline tag still maps it.
    Finding(threat_id="AA01", response="accepted", mitigations="medsec: AUTH-003, AUTH-010"),
]

ssh = Server("Service SSH")
ssh.inBoundary = pump
ssh.protocol = "SSH"
ssh.port = 22
ssh.controls.isHardened = True
ssh.overrides = [
    # pytm applies overrides of elements, not of dataflows: the claim sits on the server.
    Finding(
        threat_id="CR05",
        response="mitigated",
        mitigations="Only strong SSH key exchange, ciphers and MACs. medsec: CRYPTO-008",
    ),
]

command = Dataflow(clinician, api, "Therapy command")
command.protocol = "HTTPS"
command.dstPort = 443
command.controls.isEncrypted = True

session = Dataflow(technician, ssh, "Service session")
session.protocol = "SSH"
session.dstPort = 22
session.controls.isEncrypted = True

if __name__ == "__main__":
    tm.process()
