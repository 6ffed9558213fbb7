"""What the codes in the catalogue's references mean, so a report explains every one.

FDA-x: the security control categories of the FDA premarket cybersecurity guidance
(Appendix 1); CR/EDR: IEC 62443-4-2 component requirements; EN x.y-z: provisions of ETSI
EN 303 645 (named by their section); CWE and CAPEC: MITRE's catalogues.
"""

from __future__ import annotations

import re

FDA_GUIDANCE = (
    "FDA, Cybersecurity in Medical Devices: Quality System Considerations and Content of "
    "Premarket Submissions (2023, revised 2025), Appendix 1"
)
FDA_CATEGORIES: dict[str, str] = {
    "FDA-Authn": "Authentication",
    "FDA-Authz": "Authorization",
    "FDA-Crypto": "Cryptography",
    "FDA-Integ": "Code, data and execution integrity",
    "FDA-Conf": "Confidentiality",
    "FDA-Log": "Event detection and logging",
    "FDA-Resil": "Resiliency and recovery",
    "FDA-Upd": "Firmware and software updates",
}
IEC_62443_4_2: dict[str, str] = {
    "CR 1.1": "Human user identification and authentication",
    "CR 1.2": "Software process and device identification and authentication",
    "CR 1.5": "Authenticator management",
    "CR 1.7": "Strength of password-based authentication",
    "CR 1.8": "Public key infrastructure certificates",
    "CR 1.9": "Strength of public key-based authentication",
    "CR 1.11": "Unsuccessful login attempts",
    "CR 2.1": "Authorization enforcement",
    "CR 2.5": "Session lock",
    "CR 2.6": "Remote session termination",
    "CR 3.1": "Communication integrity",
    "CR 3.4": "Software and information integrity",
    "CR 3.5": "Input validation",
    "CR 3.9": "Protection of audit information",
    "CR 4.1": "Information confidentiality",
    "CR 4.3": "Use of cryptography",
    "CR 7.1": "Denial of service protection",
    "CR 7.2": "Resource management",
    "CR 7.4": "Control system recovery and reconstitution",
    "CR 7.7": "Least functionality",
    "EDR 2.13": "Use of physical diagnostic and test interfaces",
    "EDR 3.10": "Support for updates",
    "EDR 3.14": "Integrity of the boot process",
}
ETSI_EN_303_645: dict[str, str] = {
    "5.1": "No universal default passwords",
    "5.3": "Keep software updated",
    "5.5": "Communicate securely",
    "5.6": "Minimize exposed attack surfaces",
    "5.9": "Make systems resilient to outages",
    "5.13": "Validate input data",
}
CWE: dict[str, str] = {
    "CWE-20": "Improper Input Validation",
    "CWE-120": "Buffer Copy without Checking Size of Input ('Classic Buffer Overflow')",
    "CWE-130": "Improper Handling of Length Parameter Inconsistency",
    "CWE-200": "Exposure of Sensitive Information to an Unauthorized Actor",
    "CWE-250": "Execution with Unnecessary Privileges",
    "CWE-269": "Improper Privilege Management",
    "CWE-287": "Improper Authentication",
    "CWE-288": "Authentication Bypass Using an Alternate Path or Channel",
    "CWE-295": "Improper Certificate Validation",
    "CWE-296": "Improper Following of a Certificate's Chain of Trust",
    "CWE-297": "Improper Validation of Certificate with Host Mismatch",
    "CWE-298": "Improper Validation of Certificate Expiration",
    "CWE-306": "Missing Authentication for Critical Function",
    "CWE-307": "Improper Restriction of Excessive Authentication Attempts",
    "CWE-309": "Use of Password System for Primary Authentication",
    "CWE-319": "Cleartext Transmission of Sensitive Information",
    "CWE-326": "Inadequate Encryption Strength",
    "CWE-327": "Use of a Broken or Risky Cryptographic Algorithm",
    "CWE-328": "Use of Weak Hash",
    "CWE-345": "Insufficient Verification of Data Authenticity",
    "CWE-347": "Improper Verification of Cryptographic Signature",
    "CWE-400": "Uncontrolled Resource Consumption",
    "CWE-489": "Active Debug Code",
    "CWE-494": "Download of Code Without Integrity Check",
    "CWE-497": "Exposure of Sensitive System Information to an Unauthorized Control Sphere",
    "CWE-521": "Weak Password Requirements",
    "CWE-523": "Unprotected Transport of Credentials",
    "CWE-532": "Insertion of Sensitive Information into Log File",
    "CWE-613": "Insufficient Session Expiration",
    "CWE-614": "Sensitive Cookie in HTTPS Session Without 'Secure' Attribute",
    "CWE-757": "Selection of Less-Secure Algorithm During Negotiation ('Algorithm Downgrade')",
    "CWE-770": "Allocation of Resources Without Limits or Throttling",
    "CWE-798": "Use of Hard-coded Credentials",
    "CWE-862": "Missing Authorization",
    "CWE-1004": "Sensitive Cookie Without 'HttpOnly' Flag",
    "CWE-1021": "Improper Restriction of Rendered UI Layers or Frames",
    "CWE-1191": "On-Chip Debug and Test Interface With Improper Access Control",
    "CWE-1295": "Debug Messages Revealing Unnecessary Information",
    "CWE-1328": "Security Version Number Mutable to Older Versions",
    "CWE-1392": "Use of Default Credentials",
}
CAPEC: dict[str, str] = {
    "CAPEC-2": "Inducing Account Lockout",
    "CAPEC-28": "Fuzzing",
    "CAPEC-49": "Password Brute Forcing",
    "CAPEC-70": "Try Common or Default Usernames and Passwords",
    "CAPEC-94": "Adversary in the Middle (AiTM)",
    "CAPEC-100": "Overflow Buffers",
    "CAPEC-103": "Clickjacking",
    "CAPEC-112": "Brute Force",
    "CAPEC-115": "Authentication Bypass",
    "CAPEC-121": "Exploit Non-Production Interfaces",
    "CAPEC-125": "Flooding",
    "CAPEC-153": "Input Data Manipulation",
    "CAPEC-158": "Sniffing Network Traffic",
    "CAPEC-186": "Malicious Software Update",
    "CAPEC-217": "Exploiting Incorrectly Configured SSL/TLS",
    "CAPEC-224": "Fingerprinting",
    "CAPEC-233": "Privilege Escalation",
    "CAPEC-272": "Protocol Manipulation",
    "CAPEC-300": "Port Scanning",
    "CAPEC-469": "HTTP DoS",
    "CAPEC-475": "Signature Spoofing by Improper Validation",
    "CAPEC-541": "Application Fingerprinting",
    "CAPEC-620": "Drop Encryption Level",
}
_EN = re.compile(r"^EN (\d+\.\d+)(?:-\d+)?$")


def explain(code: str) -> str:
    """What `code` means, in words a reviewer reads without the standard at hand."""
    if code in FDA_CATEGORIES:
        return f"FDA premarket guidance, Appendix 1 control category: {FDA_CATEGORIES[code]}"
    if code in IEC_62443_4_2:
        kind = "component" if code.startswith("CR") else "embedded device"
        return (
            f"IEC 62443-4-2 {kind} requirement {code[code.index(' ') + 1 :]}: "
            + (IEC_62443_4_2[code])
        )
    match = _EN.match(code)
    if match and match.group(1) in ETSI_EN_303_645:
        section = match.group(1)
        return f"ETSI EN 303 645 provision {code[3:]} ({section} {ETSI_EN_303_645[section]})"
    if code in CWE:
        return f"MITRE {code}: {CWE[code]}"
    if code in CAPEC:
        return f"MITRE {code}: {CAPEC[code]}"
    if code.startswith("FDA "):
        return f"FDA premarket guidance: {code[4:]}"
    raise KeyError(f"no explanation for the reference {code!r}")


def url(code: str) -> str | None:
    """Where a CWE or CAPEC entry is published, or None."""
    if code.startswith("CWE-"):
        return f"https://cwe.mitre.org/data/definitions/{code[4:]}.html"
    if code.startswith("CAPEC-"):
        return f"https://capec.mitre.org/data/definitions/{code[6:]}.html"
    return None
