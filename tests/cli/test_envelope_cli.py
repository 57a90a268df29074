"""``relay envelope sign|verify`` and ``relay bench envelope``: the command-line contract.

Run as other tools run them: ``python -m relay`` in a subprocess. ``verify`` prints one JSON
line (claims, exit 0; ``{"error": reason}``, exit 1) and uses exit 2 only for an unusable
``--jwks``; ``sign`` reads ``relay policy apply`` output and its envelope verifies.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from relay.core.signing import b64url_decode, b64url_encode

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = json.loads(
    (ROOT / "tests" / "data" / "vectors" / "relay-envelope-example.json").read_text("utf-8")
)
AT = ["--at", "1760000200"]
BASELINE = ROOT / "policies" / "baseline.yaml"
EVENT = {
    "type": "message",
    "text": "BOLO: white 2012 sedan\npartial plate 7XK\ninformant CI-4471 says northbound",
    "user": "U0CASE0001",
    "ts": "1700000000.000100",
    "channel": "C0BOLO",
}


def relay(*argv: str, stdin: str | bytes = b"") -> subprocess.CompletedProcess[str]:
    data = stdin.encode() if isinstance(stdin, str) else stdin
    proc = subprocess.run(
        [sys.executable, "-m", "relay", *argv],
        input=data,
        capture_output=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    return subprocess.CompletedProcess(
        proc.args, proc.returncode, proc.stdout.decode(), proc.stderr.decode()
    )


def one_json_line(text: str) -> Any:
    lines = text.splitlines()
    assert len(lines) == 1, text
    return json.loads(lines[0])


@pytest.fixture(scope="module")
def jwks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("jwks") / "example.jwks.json"
    keys = [
        {"kty": j["kty"], "crv": j["crv"], "x": j["x"], "kid": kid}
        for kid, j in EXAMPLE["keys"].items()
    ]
    path.write_text(json.dumps({"keys": keys}), "utf-8")
    return path


# ----------------------------------------------------------------------------- verify


@pytest.mark.parametrize(
    ("form", "expected"),
    [("envelope_A_to_B", "expected_claims_at_B"), ("envelope_B_to_C", "expected_claims_at_C")],
)
def test_verify_prints_the_example_claims_and_exits_0(jwks, form, expected):
    done = relay("envelope", "verify", "--jwks", str(jwks), *AT, stdin=json.dumps(EXAMPLE[form]))
    assert (done.returncode, done.stderr) == (0, "")
    assert one_json_line(done.stdout) == EXAMPLE[expected]


@pytest.mark.parametrize(
    ("form", "field", "index", "position"),
    [
        ("envelope_A_to_B", "payload", None, 0),
        ("envelope_A_to_B", "payload", None, 200),
        ("envelope_A_to_B", "protected", 0, 10),
        ("envelope_A_to_B", "signature", 0, 63),
        ("envelope_B_to_C", "protected", 1, 100),
        ("envelope_B_to_C", "signature", 1, 0),
        ("envelope_B_to_C", "signature", 0, 31),
    ],
)
def test_verify_refuses_a_flipped_byte_with_an_error_line_and_exit_1(
    jwks, form, field, index, position
):
    env = copy.deepcopy(EXAMPLE[form])
    holder = env if index is None else env["signatures"][index]
    raw = bytearray(b64url_decode(holder[field]))
    raw[position] ^= 0x01
    holder[field] = b64url_encode(bytes(raw))
    done = relay("envelope", "verify", "--jwks", str(jwks), *AT, stdin=json.dumps(env))
    assert done.returncode == 1
    error = one_json_line(done.stdout)["error"]
    assert error in ("signature_invalid", "malformed")
    assert len(done.stderr.splitlines()) == 1
    assert "Traceback" not in done.stderr


def test_verify_defaults_to_now_so_the_2025_example_has_expired(jwks):
    done = relay(
        "envelope", "verify", "--jwks", str(jwks), stdin=json.dumps(EXAMPLE["envelope_A_to_B"])
    )
    assert (done.returncode, one_json_line(done.stdout)) == (1, {"error": "expired"})


@pytest.mark.parametrize(
    "stdin",
    [b"", b"{", b"\xff\xfe", b'{"a":1,"a":2}', b"[" * 100_000, b"[]", b'"envelope"'],
    ids=["empty", "truncated", "not-utf8", "duplicate", "deep", "list", "string"],
)
def test_verify_bad_stdin_is_an_error_line_and_exit_1(jwks, stdin):
    done = relay("envelope", "verify", "--jwks", str(jwks), *AT, stdin=stdin)
    assert done.returncode == 1
    assert one_json_line(done.stdout) == {"error": "malformed"}
    assert "Traceback" not in done.stderr


def test_verify_unknown_kid_is_key_not_pinned(tmp_path):
    only_b = tmp_path / "b.json"
    b = EXAMPLE["keys"]["agency-b.example#2025-k1"]
    only_b.write_text(
        json.dumps(
            {"kty": "OKP", "crv": "Ed25519", "x": b["x"], "kid": "agency-b.example#2025-k1"}
        )
    )
    done = relay(
        "envelope",
        "verify",
        "--jwks",
        str(only_b),
        *AT,
        stdin=json.dumps(EXAMPLE["envelope_A_to_B"]),
    )
    assert (done.returncode, one_json_line(done.stdout)) == (1, {"error": "key_not_pinned"})


SMALL_ORDER_X = b64url_encode(bytes.fromhex("01" + "00" * 31))  # the identity point


def _jwk(x: str) -> dict[str, str]:
    return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "k"}


@pytest.mark.parametrize(
    "content",
    [
        None,
        "not json",
        '{"keys": []}',
        json.dumps({"keys": [_jwk(SMALL_ORDER_X)]}),
        json.dumps(
            {"keys": [_jwk(EXAMPLE["keys"]["agency-a.example#2025-k1"]["x"]) | {"d": "x"}]}
        ),
    ],
    ids=["missing", "not-json", "empty", "small-order-key", "private-key"],
)
def test_verify_unusable_jwks_is_one_stderr_line_and_exit_2(tmp_path, content):
    path = tmp_path / "jwks.json"
    if content is not None:
        path.write_text(content, "utf-8")
    done = relay(
        "envelope",
        "verify",
        "--jwks",
        str(path),
        *AT,
        stdin=json.dumps(EXAMPLE["envelope_A_to_B"]),
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert len(done.stderr.splitlines()) == 1
    assert done.stderr.startswith("relay envelope verify: --jwks ")


def test_verify_bad_at_is_a_usage_error(jwks):
    done = relay("envelope", "verify", "--jwks", str(jwks), "--at", "yesterday")
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1


# ----------------------------------------------------------------------------- sign


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("keys")
    done = relay("keygen", "--agency", "CT9990100", "--out", str(out), "--kid-suffix", "2026-k1")
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def decision() -> str:
    done = relay(
        "policy", "apply", str(BASELINE), "--peer", "MA9990200", "--topic", "bolo",
        "--now", "2026-11-26T00:00:00+00:00", stdin=json.dumps(EVENT),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["message"] is not None
    return done.stdout


SIGN_AT = ["--at", "1795000000"]


def test_keygen_policy_apply_sign_verify_round_trip(keys, decision, tmp_path):
    key = keys / "CT9990100-2026-k1.key.pem"
    signed = relay(
        "envelope", "sign", "--key", str(key), "--topic", "bolo", "--peer", "MA9990200",
        "--onward", *SIGN_AT, stdin=decision,
    )  # fmt: skip
    assert (signed.returncode, signed.stderr) == (0, "")
    envelope = one_json_line(signed.stdout)
    bare = keys / "CT9990100-2026-k1.jwk.json"
    wrapped = tmp_path / "jwks.json"
    wrapped.write_text(json.dumps({"keys": [json.loads(bare.read_text("ascii"))]}), "ascii")
    message = json.loads(decision)["message"]
    for jwks_file in (bare, wrapped):
        done = relay(
            "envelope", "verify", "--jwks", str(jwks_file), "--at", "1795000100",
            stdin=signed.stdout,
        )  # fmt: skip
        assert (done.returncode, done.stderr) == (0, "")
        claims = one_json_line(done.stdout)
        lines = [claims[f"line.{i}"] for i in range(len(message["text"].split("\n")))]
        assert lines == message["text"].split("\n")
        assert (claims["iss"], claims["aud"], claims["onward"]) == ("CT9990100", "MA9990200", True)
        assert (claims["topic"], claims["kind"], claims["iat"]) == ("bolo", "post", 1795000000)
    assert len(envelope["signatures"]) == 1
    protected = json.loads(b64url_decode(envelope["signatures"][0]["protected"]))
    assert protected["kid"] == "CT9990100#2026-k1"


def test_sign_without_peer_leaves_aud_out(keys, decision):
    key = keys / "CT9990100-2026-k1.key.pem"
    signed = relay(
        "envelope", "sign", "--key", str(key), "--topic", "bolo", *SIGN_AT, stdin=decision
    )
    assert signed.returncode == 0, signed.stderr
    payload = json.loads(b64url_decode(json.loads(signed.stdout)["payload"]))
    assert "aud" not in payload
    assert payload["onward"] is False


def test_sign_derives_the_kid_from_the_file_name_without_a_jwk(keys, decision, tmp_path):
    key = tmp_path / "CT9990100-2027-k2.key.pem"
    shutil.copy(keys / "CT9990100-2026-k1.key.pem", key)
    signed = relay(
        "envelope", "sign", "--key", str(key), "--topic", "bolo", *SIGN_AT, stdin=decision
    )
    assert signed.returncode == 0, signed.stderr
    protected = json.loads(b64url_decode(json.loads(signed.stdout)["signatures"][0]["protected"]))
    assert protected["kid"] == "CT9990100#2027-k2"


@pytest.mark.parametrize(
    "stdin",
    [
        '{"action": "block", "message": null, "reasons": [{"rule": "x", "count": 1}]}',
        '{"action": "forward", "message": null, "reasons": []}',
    ],
)
def test_sign_a_block_decision_signs_nothing_and_exits_1(keys, stdin):
    key = keys / "CT9990100-2026-k1.key.pem"
    done = relay("envelope", "sign", "--key", str(key), "--topic", "bolo", stdin=stdin)
    assert (done.returncode, done.stdout) == (1, "")
    assert len(done.stderr.splitlines()) == 1
    assert "blocked" in done.stderr


@pytest.mark.parametrize(
    ("argv", "stdin"),
    [
        (["--onward"], None),
        (["--peer", "not-an-ori"], None),
        (["--peer", "CT9990100"], None),
        (["--topic", "Not A Topic!"], None),
        ([], "not json"),
        ([], '{"message": {}}'),
        ([], '{"action": "forward", "message": {"kind": "ignored", "text": "x"}, "reasons": []}'),
        ([], '{"action": "forward", "message": {"kind": "edit", "text": "x"}, "reasons": []}'),
    ],
    ids=[
        "onward-without-peer", "bad-peer", "peer-is-issuer", "bad-topic", "not-json",
        "not-a-decision", "ignored-kind", "edit-without-target",
    ],
)  # fmt: skip
def test_sign_bad_input_is_one_stderr_line_and_exit_2(keys, decision, argv, stdin):
    key = keys / "CT9990100-2026-k1.key.pem"
    topic = [] if "--topic" in argv else ["--topic", "bolo"]
    done = relay(
        "envelope", "sign", "--key", str(key), *topic, *argv,
        stdin=decision if stdin is None else stdin,
    )  # fmt: skip
    assert (done.returncode, done.stdout) == (2, "")
    assert len(done.stderr.splitlines()) == 1
    assert "Traceback" not in done.stderr
    assert "CI-4471" not in done.stderr
    assert "sedan" not in done.stderr


@pytest.mark.parametrize("name", ["missing.key.pem", "garbage.key.pem", "nokid.pem"])
def test_sign_unusable_key_file_is_exit_2(keys, decision, tmp_path, name):
    path = tmp_path / name
    if name == "garbage.key.pem":
        path.write_text("not a key")
    elif name == "nokid.pem":
        shutil.copy(keys / "CT9990100-2026-k1.key.pem", path)
    done = relay("envelope", "sign", "--key", str(path), "--topic", "bolo", stdin=decision)
    assert (done.returncode, done.stdout) == (2, "")
    assert len(done.stderr.splitlines()) == 1


def test_sign_notes_files_it_cannot_sign(keys):
    decision = {
        "action": "forward",
        "message": {"kind": "post", "text": "see photo", "files": [{"id": "F1"}]},
        "reasons": [],
    }
    key = keys / "CT9990100-2026-k1.key.pem"
    done = relay(
        "envelope", "sign", "--key", str(key), "--topic", "bolo", stdin=json.dumps(decision)
    )
    assert done.returncode == 0
    assert "1 file(s) not signed" in done.stderr
    assert one_json_line(done.stdout)["signatures"]


# ----------------------------------------------------------------------------- bench


def test_bench_envelope_prints_rates_and_ratios():
    done = relay("bench", "envelope", "--seconds", "0.05")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for label in (
        "raw Ed25519 sign",
        "raw Ed25519 verify",
        "build+sign",
        "1 signature",
        "2 signatures",
    ):
        assert label in out
    assert "target >= 40%" in out
    assert "target >= 60%" in out
