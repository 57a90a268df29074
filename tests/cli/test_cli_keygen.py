"""``relay keygen``: key files, permissions, kid, and refusals."""

from __future__ import annotations

import argparse
import json
import stat

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from relay.cli_keygen import add_parser
from relay.core.keys import jwk_thumbprint, public_key_from_jwk
from relay.core.signing import public_key_bytes


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="relay")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_keygen_writes_0600_private_key_and_public_jwk_with_kid(tmp_path, capsys):
    out = tmp_path / "keys"
    assert (
        run(["keygen", "--agency", "CT9990100", "--out", str(out), "--kid-suffix", "2026-k1"]) == 0
    )
    key_path = out / "CT9990100-2026-k1.key.pem"
    jwk = json.loads((out / "CT9990100-2026-k1.jwk.json").read_text("ascii"))
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert jwk["kid"] == "CT9990100#2026-k1"
    assert "d" not in jwk
    key = load_pem_private_key(key_path.read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    assert public_key_from_jwk(jwk) == public_key_bytes(key)
    printed = capsys.readouterr().out
    assert "CT9990100#2026-k1" in printed
    assert jwk_thumbprint(public_key_bytes(key)) in printed


def test_keygen_default_suffix_is_year_k1(tmp_path):
    assert run(["keygen", "--agency", "CT9990100", "--out", str(tmp_path)]) == 0
    (jwk_file,) = tmp_path.glob("*.jwk.json")
    assert json.loads(jwk_file.read_text("ascii"))["kid"].endswith("-k1")


@pytest.mark.parametrize(
    "argv",
    [
        ["--agency", "ct9990100"],
        ["--agency", "CT999"],
        ["--agency", "CT9990100", "--kid-suffix", "2026#k1"],
        ["--agency", "CT9990100", "--kid-suffix", "../../etc"],
    ],
    ids=["lowercase-ori", "short-ori", "hash-in-suffix", "path-in-suffix"],
)
def test_keygen_bad_input_is_one_stderr_line_and_exit_2(tmp_path, capsys, argv):
    assert run(["keygen", "--out", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_keygen_never_overwrites_an_existing_key(tmp_path, capsys):
    argv = ["keygen", "--agency", "CT9990100", "--out", str(tmp_path), "--kid-suffix", "k1"]
    assert run(argv) == 0
    before = (tmp_path / "CT9990100-k1.key.pem").read_bytes()
    capsys.readouterr()
    assert run(argv) == 1
    assert capsys.readouterr().err.count("\n") == 1
    assert (tmp_path / "CT9990100-k1.key.pem").read_bytes() == before
