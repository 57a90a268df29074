"""The one ``relay.yaml`` writer (:mod:`relay.lab.relayyaml`): what it writes reads back through
``load_config`` with every value as given, however awkward for YAML, and an agency's material
passes ``relay config check``."""

from __future__ import annotations

import datetime as dt
import hashlib
import ssl
import stat
from pathlib import Path

import pytest
import yaml

from relay.commands.config import check_config
from relay.config import load_config
from relay.lab.pki import ThrowawayCA
from relay.lab.relayyaml import (
    Delivery,
    KeyPin,
    Listen,
    Partner,
    RelayYaml,
    Slack,
    throwaway_tls,
    write_material,
)
from tests.federation.harness import policy_text

CT, MA = "CT9990100", "MA9990200"
EST = dt.timezone(dt.timedelta(hours=-5))


def _awkward() -> RelayYaml:
    """Values YAML would misread unquoted: digits-only and octal-looking fingerprints, a
    leading dash, ``no``/``on``/``null`` as strings, ``: `` and ``#`` inside values."""
    return RelayYaml(
        agency=CT,
        policy="policies/my policy: v2 #1.yaml",
        signing_key="keys/CT9990100-2026-k1.key.pem",
        signing_kid=f"{CT}#2026-k1",
        tls_cert="tls/relay.crt",
        tls_key="tls/relay.key",
        tls_ca="tls/[ca].pem",
        store="postgresql://relay@db:5432/relay?options=-csearch_path%3Dct&x=y #not a comment",
        listen=Listen("0.0.0.0", 8443),  # noqa: S104 - written, not bound
        hop_limit=3,
        max_body_bytes=65536,
        read_timeout_seconds=2.5,
        rate_limit=(12.5, 30),
        delivery=Delivery(max_age_hours=0.5, lease_seconds=10, batch=16, stop_timeout_seconds=1),
        admin=Listen("127.0.0.1", 0),
        logging=("console", "debug"),
        partners=[
            Partner(
                ori=MA,
                url="https://relay.millbrook.example:8443/fed?x=1#y",
                tls_sha256=["1" * 64, "0" * 63 + "7", "AB" * 32],
                keys=[
                    KeyPin(
                        kid=f"{MA}#2026-k1",
                        x="-" + "A" * 41 + "_",
                        not_before=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
                        not_after=dt.datetime(2027, 1, 1, 7, tzinfo=EST),
                    ),
                    KeyPin(
                        kid=f"{MA}#null",
                        x="1" * 43,
                        not_before=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
                        not_after=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
                        revoked=True,
                    ),
                ],
            )
        ],
        slack=Slack(
            team_id="T0NO",
            mode="events",
            api_url="http://127.0.0.1:9/api/",
            bot_token_file="secrets/bot token: yes",
            signing_secret_env="ON",
            listen=Listen("127.0.0.1", 3000),
            pacing=False,
            catch_up_seconds=1.5,
            channels={"C0BOLO0001": "no", "C0INTEL001": "null", "C0NARCO001": "- dash"},
        ),
    )


def test_awkward_values_round_trip_through_load_config(tmp_path: Path) -> None:
    written = _awkward()
    text = written.render("first line\n\nthird: line # with a hash")
    assert text.startswith("# first line\n#\n# third: line # with a hash\nagency: CT9990100\n")
    config = load_config(text, source="relay.yaml", base_dir=tmp_path)
    assert config.agency == CT
    assert config.policy == tmp_path / "policies/my policy: v2 #1.yaml"
    assert config.signing_kid == f"{CT}#2026-k1"
    assert config.store == written.store
    fed = config.federation
    assert (fed.host, fed.port, fed.hop_limit, fed.max_body_bytes) == ("0.0.0.0", 8443, 3, 65536)  # noqa: S104
    assert (fed.read_timeout, fed.rate_per_second, fed.rate_burst) == (2.5, 12.5, 30)
    assert fed.tls_ca == tmp_path / "tls/[ca].pem"
    assert config.delivery.max_age == dt.timedelta(minutes=30)
    assert (config.delivery.lease, config.delivery.batch) == (10, 16)
    assert config.delivery.stop_timeout == 1
    assert config.admin is not None
    assert config.admin.port == 0
    assert (config.logging.format, config.logging.level) == ("console", "debug")
    link = config.partners[MA]
    assert link.url == "https://relay.millbrook.example:8443/fed?x=1#y"
    assert link.tls_sha256 == {"1" * 64, "0" * 63 + "7", "ab" * 32}
    first, revoked = link.keys
    assert first.public_key == "-" + "A" * 41 + "_"
    assert first.not_after == dt.datetime(2027, 1, 1, 12, tzinfo=dt.UTC)
    assert not first.revoked
    assert (revoked.kid, revoked.public_key, revoked.revoked) == (f"{MA}#null", "1" * 43, True)
    slack = config.slack
    assert slack is not None
    assert slack.team_id == "T0NO"
    assert slack.bot_token.file == tmp_path / "secrets/bot token: yes"
    assert slack.signing_secret.env == "ON"
    assert (slack.host, slack.port, slack.pacing, slack.catch_up_seconds) == (
        "127.0.0.1",
        3000,
        False,
        1.5,
    )
    assert slack.channels == {"C0BOLO0001": "no", "C0INTEL001": "null", "C0NARCO001": "- dash"}


def test_unset_fields_are_not_written_and_the_defaults_apply(tmp_path: Path) -> None:
    minimal = RelayYaml(
        agency=CT,
        policy="policy.yaml",
        signing_key="signing.pem",
        signing_kid=f"{CT}#k1",
        tls_cert="c",
        tls_key="k",
        tls_ca="a",
    )
    doc = yaml.safe_load(minimal.render())
    assert list(doc) == [
        "agency",
        "policy",
        "signing_key",
        "signing_kid",
        "federation",
        "partners",
    ]
    assert doc["partners"] == []
    assert set(doc["federation"]) == {"listen", "tls"}
    config = load_config(minimal.render(), source="relay.yaml", base_dir=tmp_path)
    assert config.admin is None
    assert config.slack is None
    assert config.federation.hop_limit == 4  # relay.core.defaults


def test_material_pins_and_passes_config_check(tmp_path: Path) -> None:
    ca = ThrowawayCA(tmp_path / "ca", days=90)  # config check warns of certificates expiring
    ct = write_material(tmp_path / CT, CT, f"{CT}#t1-k1", throwaway_tls(ca, CT), jwk=True,
                        signing_key=f"keys/{CT}-t1-k1.key.pem")  # fmt: skip
    ma = write_material(tmp_path / MA, MA, f"{MA}#t1-k1", throwaway_tls(ca, MA))
    assert sorted(p.name for p in (tmp_path / "ca").iterdir()) == ["ca.pem"]  # leaves moved
    for path in (ct.dir / ct.signing_key, ct.dir / ct.tls_key):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert '"kid": "CT9990100#t1-k1"' in (ct.dir / f"keys/{CT}-t1-k1.jwk.json").read_text()
    der = ssl.PEM_cert_to_DER_cert((ma.dir / ma.cert).read_text())
    now = dt.datetime.now(dt.UTC)
    partner = ma.partner("https://127.0.0.1:8443", now - dt.timedelta(days=1), now)
    assert partner.tls_sha256 == (hashlib.sha256(der).hexdigest(),)
    assert partner.keys[0].x == ma.x
    assert len(ma.x) == 43

    (ct.dir / "policy.yaml").write_text(policy_text(CT, [{"ori": MA}]))
    until = now + dt.timedelta(days=30)
    config = ct.config(
        policy="policy.yaml",
        partners=[ma.partner("https://127.0.0.1:8443", now, until)],
        store="sqlite:///relay.db",
    )
    path = config.write(ct.dir / "relay.yaml")
    problems, summary, code = check_config(str(path))
    assert (code, problems) == (0, []), problems
    assert summary.startswith(f"config ok: {CT}, 1 partner")
    with pytest.raises(FileExistsError):  # material is never overwritten
        write_material(tmp_path / MA, MA, f"{MA}#t1-k1", throwaway_tls(ca, MA))
