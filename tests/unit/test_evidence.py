"""Evidence: redaction, the signed manifest, and `medsec verify` catching any change."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harness.core.redact import Redactor, shown
from harness.core.transcript import Transcript
from harness.evidence.manifest import verify_run, write_manifest
from harness.evidence.recorder import EvidenceRecorder


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    recorder = EvidenceRecorder(run, "AUTH-001", "ssh", Redactor(["hunter22"]))
    recorder.text("notes.txt", "the password hunter22 was typed")
    recorder.json("attempts.json", [{"user": "service", "password": "hunter22"}])
    recorder.binary("hello.bin", bytes(range(256)))
    (run / "results.json").write_text("{}\n")
    (run / "report.html").write_text("<html></html>\n")
    write_manifest(run, Ed25519PrivateKey.generate(), key_source="test", meta={})
    return run


def test_secrets_never_reach_the_files(run_dir: Path) -> None:
    for path in (run_dir / "evidence").rglob("*"):
        if path.is_file():
            assert b"hunter22" not in path.read_bytes(), path
    assert "hu***" in (run_dir / "evidence/AUTH-001/ssh/notes.txt").read_text()


def test_redacted_forms() -> None:
    assert shown("admin") == "ad***"
    assert shown("") == "(empty)"
    assert shown("abc") == "***"
    assert Redactor(["longsecret", "longsecret-2"]).text("x longsecret-2 y") == "x lo*** y"


def test_a_named_secret_is_replaced_by_its_name_in_every_readable_form() -> None:
    redactor = Redactor({"service": "serial.password", "Hunter2!": "ssh.password"})
    # An ordinary word as a password: the reason still reads, and says what was hidden.
    assert redactor.text("cleartext services") == "cleartext «serial.password»s"
    assert redactor.text('{"pw": "Hunter2!"}') == '{"pw": "«ssh.password»"}'
    assert redactor.text("pw=Hunter2%21") == "pw=«ssh.password»"
    assert redactor.bytes(b"x Hunter2! y") == b"x ******** y"  # dumps keep their offsets


def test_a_name_that_would_show_a_secret_falls_back_to_the_masked_form() -> None:
    redactor = Redactor({"password": "ssh.password", "x9-account": "http.account.username"})
    assert redactor.text("the password") == "the pa***"
    assert redactor.text("x9-account") == "«http.account.username»"
    redactor.add(["account"])  # a later secret that the name itself contains
    assert redactor.text("x9-account") == "x9***"
    assert "account" not in redactor.text("x9-account and account")


def test_a_transcript_never_replaces_a_result_of_the_same_name(tmp_path: Path) -> None:
    """SURFACE-001 saves `scan.json` and a transcript named `scan`: both must survive."""
    recorder = EvidenceRecorder(tmp_path, "SURFACE-001", "network", Redactor([]))
    recorder.json("scan.json", {"open": [22, 443]}, "scan result")
    transcript = recorder.new_transcript("scan", "TCP connect scan")
    transcript.event("connect 127.0.0.1:22")
    recorder.flush_transcripts()
    paths = [a.path for a in recorder.artifacts]
    assert len(paths) == len(set(paths))
    folder = tmp_path / "evidence/SURFACE-001/network"
    assert json.loads((folder / "scan.json").read_text()) == {"open": [22, 443]}
    assert "steps" in json.loads((folder / "scan-2.json").read_text())


def test_transcript_records_a_secret_only_as_its_redacted_form() -> None:
    transcript = Transcript("console")
    transcript.sent(b"root\r")
    transcript.send_secret("password ro***")
    text = transcript.to_text()
    assert "'root\\r'" in text
    assert "secret password ro***" in text


def test_an_untouched_run_verifies(run_dir: Path) -> None:
    result = verify_run(run_dir)
    assert result.ok
    assert result.signature_ok
    assert not result.key_pinned


@pytest.mark.parametrize(
    "relative",
    [
        "evidence/AUTH-001/ssh/hello.bin",
        "evidence/AUTH-001/ssh/notes.txt",
        "results.json",
        "report.html",
    ],
)
def test_one_changed_byte_in_any_file_is_reported(run_dir: Path, relative: str) -> None:
    path = run_dir / relative
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    result = verify_run(run_dir)
    assert not result.ok
    assert result.modified == (relative,)


def test_missing_and_added_files_are_reported(run_dir: Path) -> None:
    (run_dir / "report.html").unlink()
    (run_dir / "evidence" / "extra.txt").write_text("planted")
    result = verify_run(run_dir)
    assert result.missing == ("report.html",)
    assert result.added == ("evidence/extra.txt",)


def test_an_edited_manifest_breaks_the_signature(run_dir: Path) -> None:
    manifest = run_dir / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"files"', '"files" ', 1))
    assert not verify_run(run_dir).signature_ok


def test_a_pinned_key_rejects_a_resigned_run(run_dir: Path, tmp_path: Path) -> None:
    trusted = tmp_path / "trusted.pub"
    trusted.write_bytes((run_dir / "manifest.pub").read_bytes())
    write_manifest(run_dir, Ed25519PrivateKey.generate(), key_source="attacker", meta={})
    assert verify_run(run_dir).ok  # the folder's own key agrees with itself...
    assert not verify_run(run_dir, trusted).signature_ok  # ...the pinned key does not


def test_cli_verify_exit_codes(run_dir: Path) -> None:
    command = [sys.executable, "-m", "harness", "verify", str(run_dir)]
    assert subprocess.run(command, capture_output=True, timeout=60).returncode == 0
    (run_dir / "results.json").write_text("{ }\n")
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "modified results.json" in done.stdout


def test_public_key_is_saved_as_pem(run_dir: Path) -> None:
    key = serialization.load_pem_public_key((run_dir / "manifest.pub").read_bytes())
    assert key is not None


def test_a_symlinked_folder_of_forged_evidence_is_reported(run_dir: Path, tmp_path: Path) -> None:
    forged = tmp_path / "forged"
    forged.mkdir()
    (forged / "proof.txt").write_text("all checks passed")
    (run_dir / "evidence" / "FORGED").symlink_to(forged, target_is_directory=True)
    result = verify_run(run_dir)
    assert not result.ok
    assert result.modified == ("evidence/FORGED",)
    assert result.irregular == {"evidence/FORGED": "symlink"}


def test_a_file_swapped_for_a_link_to_an_identical_copy_is_reported(
    run_dir: Path, tmp_path: Path
) -> None:
    original = run_dir / "results.json"
    copy = tmp_path / "copy.json"
    copy.write_bytes(original.read_bytes())
    original.unlink()
    original.symlink_to(copy)
    result = verify_run(run_dir)
    assert not result.ok
    assert result.modified == ("results.json",)
    assert result.missing == ()
    assert result.irregular == {"results.json": "symlink"}


def test_an_added_fifo_and_an_empty_folder_are_reported(run_dir: Path) -> None:
    os.mkfifo(run_dir / "evidence" / "pipe")
    (run_dir / "evidence" / "AUTH-001" / "empty").mkdir()
    result = verify_run(run_dir)  # must not block on the FIFO
    assert not result.ok
    assert result.irregular == {
        "evidence/AUTH-001/empty": "empty folder",
        "evidence/pipe": "FIFO",
    }


def test_a_manifest_that_is_a_link_is_refused(run_dir: Path, tmp_path: Path) -> None:
    manifest = run_dir / "manifest.json"
    elsewhere = tmp_path / "manifest.json"
    elsewhere.write_bytes(manifest.read_bytes())
    manifest.unlink()
    manifest.symlink_to(elsewhere)
    result = verify_run(run_dir)
    assert not result.ok
    assert "manifest.json is not a regular file (symlink)" in result.problem


def test_cli_verify_names_the_kind_and_keeps_the_terminal_clean(run_dir: Path) -> None:
    (run_dir / "evidence" / "x\x1b]0;owned\x07\x1b[2J\u202etxt.exe").symlink_to("/etc/hostname")
    done = subprocess.run(
        [sys.executable, "-m", "harness", "verify", str(run_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "(symlink, not a regular file)" in done.stdout
    assert "\x1b" not in done.stdout
    assert "\u202e" not in done.stdout


SECRET = "Pump-s3cret!"


@pytest.mark.parametrize(
    "form",
    [
        SECRET,
        SECRET.encode().hex(),
        SECRET.encode().hex().upper(),
        base64.b64encode(SECRET.encode()).decode(),
        base64.b64encode(f"service:{SECRET}".encode()).decode(),  # Basic auth
        base64.b64encode(f"x{SECRET}".encode()).decode(),  # another alignment
        base64.urlsafe_b64encode(f"ab:{SECRET}?>".encode()).decode(),
        urllib.parse.quote(SECRET, safe=""),
        urllib.parse.quote_plus(f"password={SECRET}"),
        json.dumps({"password": SECRET}),
    ],
)
def test_every_encoding_of_a_secret_is_scrubbed(form: str) -> None:
    redactor = Redactor([SECRET])
    text = f"device said: {form} (end)"
    scrubbed = redactor.text(text)
    assert scrubbed != text
    assert SECRET not in scrubbed
    for encoded in (SECRET.encode().hex(), base64.b64encode(SECRET.encode()).decode()):
        assert encoded not in scrubbed
    masked = redactor.bytes(text.encode())
    assert SECRET.encode() not in masked
    assert len(masked) == len(text.encode())


def test_hex_stays_hex_and_bytes_keep_their_length() -> None:
    redactor = Redactor([SECRET])
    hexed = f"00{SECRET.encode().hex()}ff"
    assert bytes.fromhex(redactor.text(hexed)) == b"\x00" + b"*" * len(SECRET) + b"\xff"
    blob = b"\x01\x02" + SECRET.encode() + b"\x03"
    assert redactor.bytes(blob) == b"\x01\x02" + b"*" * len(SECRET) + b"\x03"


def test_a_secret_echoed_across_several_reads_is_masked_in_every_part(tmp_path: Path) -> None:
    """A device echoes a password a few bytes per read (a console, a slow socket): each
    read alone holds no secret, so each direction is scrubbed as one stream."""
    recorder = EvidenceRecorder(tmp_path, "AUTH-002", "serial", Redactor([SECRET]))
    transcript = recorder.new_transcript("console", "serial console")
    raw = SECRET.encode()
    transcript.sent(b"login: ")
    for start in range(0, len(raw), 3):
        transcript.received(raw[start : start + 3])
        transcript.sent(b"\x00")  # the other direction, between the pieces
    hexed = raw.hex().encode()
    transcript.received(b"hex " + hexed[:7])
    transcript.received(hexed[7:] + b" end")
    recorder.flush_transcripts()
    text = (recorder.folder / "console.txt").read_text()
    steps = json.loads((recorder.folder / "console.json").read_text())["steps"]
    received = b"".join(bytes.fromhex(s["hex"]) for s in steps if s["dir"] == "recv")
    stars = b"*" * len(raw)
    assert received == stars + b"hex " + stars.hex().encode() + b" end"
    assert "'***'" in text
    assert f"'hex {stars.hex()[:7]}'" in text
    for piece in (raw[start : start + 3] for start in range(0, len(raw), 3)):
        assert f"'{piece.decode()}'" not in text


def test_text_without_secrets_is_left_alone() -> None:
    redactor = Redactor([SECRET])
    text = "ordinary words, base64 aGVsbG8gd29ybGQ= and hex 48656c6c6f"
    assert redactor.text(text) == text


# A quote of each kind, a backslash, a tab and non-ASCII: each escaping writes it otherwise.
AWKWARD = "it's-a-\\back\tslash-p\u00e4sswort\""
BODY = json.dumps({"username": "admin", "password": AWKWARD})


@pytest.mark.parametrize(
    "form",
    [
        repr(AWKWARD),
        ascii(AWKWARD),
        repr(AWKWARD.encode()),  # \xc3\xa4
        json.dumps(AWKWARD),  # \u00e4, \\, \t, \"
        json.dumps(AWKWARD, ensure_ascii=False),
        repr({"password": AWKWARD}),
        repr(BODY),  # a local holding the JSON body, shown by --showlocals
        repr(BODY.encode()),
        repr(json.dumps({"password": AWKWARD}, ensure_ascii=False).encode()),
        json.dumps(BODY),  # JSON in JSON
        repr(json.dumps(BODY)),
        repr(repr(BODY)),  # an exception's repr that holds the repr of a body
        json.dumps(repr(BODY.encode())),
    ],
    ids=[
        "repr", "ascii", "bytes-repr", "json", "json-utf8", "dict-repr", "repr-of-json",
        "bytes-repr-of-json", "bytes-repr-of-utf8-json", "json-of-json", "repr-of-json-of-json",
        "repr-of-repr-of-json", "json-of-bytes-repr-of-json",
    ],
)  # fmt: skip
def test_every_python_and_json_escaping_of_a_secret_is_scrubbed(form: str) -> None:
    redactor = Redactor({AWKWARD: "http.account.password"})
    scrubbed = redactor.text(f"body = {form} (end)")
    assert "«http.account.password»" in scrubbed
    for piece in ("it", "back", "slash", "sswort"):
        assert piece not in scrubbed, scrubbed
    masked = redactor.bytes(form.encode())
    assert len(masked) == len(form.encode())
    assert b"back" not in masked
    assert b"sswort" not in masked


@pytest.mark.parametrize(
    "text",
    [
        repr({"password": "ab"}),  # 'ab'
        repr(json.dumps({"password": "ab"})),  # "ab"
        repr(str({"u": 'x"', "password": "ab"})),  # \'ab\'
        json.dumps(json.dumps({"password": "ab"})),  # \"ab\"
        repr(json.dumps(json.dumps({"password": "ab"}))),  # \\"ab\\"
    ],
    ids=["repr", "repr-of-json", "escaped-single", "escaped-double", "doubled-backslashes"],
)
def test_a_short_secret_is_scrubbed_where_it_stands_quoted(text: str) -> None:
    redactor = Redactor({"ab": "pw"})
    assert redactor.text(text) == text.replace("ab", "«pw»")
    assert redactor.bytes(text.encode()) == text.replace("ab", "**").encode()  # length kept


def test_a_short_secret_escaped_inside_its_quotes_is_scrubbed() -> None:
    redactor = Redactor({"\u00e4": "pw"})
    for quoted in ("'\u00e4'", '"\\u00e4"', "'\\xe4'", "b'\\xc3\\xa4'", repr(json.dumps("\u00e4"))):
        assert "«pw»" in redactor.text(f"x = {quoted}"), quoted


def test_a_short_secret_unquoted_is_left_alone() -> None:
    """`MIN_SCRUB_LEN` keeps ordinary words, hex, base64 and binary dumps readable."""
    redactor = Redactor({"ab": "pw", "ss": "serial.password", "Hunter2!": "ssh.password"})
    text = "about a tab: 6162 YWI= b'ab' ab"
    assert redactor.text(text) == "about a tab: 6162 YWI= b'«pw»' ab"
    assert redactor.bytes(b"\x00ab\x01abab") == b"\x00ab\x01abab"
    assert redactor.text("Hunter2!") == "«ssh.password»"  # `ss` in the name does not matter


def test_binary_evidence_is_scrubbed(tmp_path: Path) -> None:
    recorder = EvidenceRecorder(tmp_path, "AUTH-003", "http", Redactor([SECRET]))
    body = json.dumps({"echo": SECRET}).encode()
    path = recorder.binary("reply.bin", body + base64.b64encode(SECRET.encode()))
    data = path.read_bytes()
    assert SECRET.encode() not in data
    assert base64.b64encode(SECRET.encode()) not in data


@pytest.mark.parametrize(
    ("host", "device", "harness"),
    [
        ("127.0.8.2", "127.0.8.2", "192.0.2.1"),
        ("::1", "::1", "2001:db8::1"),
        ("pump.local", "198.51.100.1", "192.0.2.1"),
    ],
)
def test_the_handshake_pcap_dissects_with_valid_checksums(
    tmp_path: Path, host: str, device: str, harness: str
) -> None:
    from scapy.layers.inet import TCP
    from scapy.utils import rdpcap

    from harness.evidence import pcap

    client_hello, answer = b"\x16\x03\x01hello", b"\x16\x03\x03" + bytes(130_001)
    path = tmp_path / "handshakes.pcap"
    path.write_bytes(
        pcap.streams(host, 47443, [(client_hello, answer), (b"x", b"")], now=1e9 + 0.25)
    )
    packets = rdpcap(str(path))
    # a port scapy dissects as raw bytes (it would parse 443 as TLS); per exchange SYN,
    # SYN-ACK, the client's bytes, the server's in 60,000-byte segments
    assert len(packets) == 4 + 2 + 3
    assert [bytes(p[TCP].payload) for p in packets[2:6]] == [
        client_hello,
        answer[:60000],
        answer[60000:120000],
        answer[120000:],
    ]
    for packet in packets:
        network, segment = packet.payload, packet[TCP]
        assert {network.src, network.dst} == {device, harness}
        assert 47443 in (segment.sport, segment.dport)
        assert float(packet.time) == 1e9 + 0.25
        written = (segment.chksum, getattr(network, "chksum", None))
        del segment.chksum
        if hasattr(network, "chksum"):
            del network.chksum
        rebuilt = packet.__class__(bytes(packet))
        assert (rebuilt[TCP].chksum, getattr(rebuilt.payload, "chksum", None)) == written


def test_transcript_lines_escape_what_is_not_printable() -> None:
    transcript = Transcript("escapes")
    transcript.received("GET\r\n\t\x00\x7f é\u00ad\u2028\U0001f600".encode() + b"\xff\xc3")
    line = transcript.to_text().splitlines()[1]
    assert line.endswith("< 'GET\\r\\n\t\\x00\\x7f é\\xad\\u2028\U0001f600\\xff\\xc3'")


def test_a_secret_cut_by_an_ellipsis_is_scrubbed_on_both_sides() -> None:
    """pytest shortens a long repr to head `...` tail; the cut may fall inside a secret."""
    redactor = Redactor({AWKWARD: "http.account.password"})
    shown_form = repr(BODY)  # as --showlocals shows the body
    start = shown_form.index("it\\'s")
    end = shown_form.index('"}')
    for cut in range(start + 2, end - 1):  # at least 2 characters of it on each side
        for gap in (0, 7):
            head, tail = shown_form[:cut], shown_form[cut + gap :]
            scrubbed = redactor.cut_text(f"self = X(body={head}...{tail})")
            before, after = scrubbed.split("...")
            assert before.endswith("«http.account.password»"), scrubbed
            if end - cut - gap >= 2:
                assert after.startswith("«http.account.password»"), scrubbed
    assert redactor.cut_text("ordinary... text") == "ordinary... text"
