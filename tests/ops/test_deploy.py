"""Deployment files under deploy/: parsed and held to the hardening they promise.

No container engine or cluster here: the Dockerfile is read with a small instruction parser,
the systemd unit with configparser (and ``systemd-analyze verify`` where it exists), compose
and Kubernetes manifests with PyYAML.
"""

from __future__ import annotations

import configparser
import contextlib
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Final

import pytest
import yaml

ROOT: Final = Path(__file__).resolve().parents[2]
DEPLOY: Final = ROOT / "deploy"
SECRETISH: Final = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|xox[abp]-)", re.IGNORECASE)


# -- Dockerfile ----------------------------------------------------------------------------
def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    assert not pending
    return out


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return _instructions(DEPLOY / "docker" / "Dockerfile")


def _last_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    starts = [i for i, (word, _) in enumerate(instructions) if word == "FROM"]
    assert len(starts) >= 2, "a multi-stage build"
    return instructions[starts[-1] :]


def test_dockerfile_runs_as_a_numeric_non_root_user(dockerfile: list[tuple[str, str]]) -> None:
    final = _last_stage(dockerfile)
    words = [word for word, _ in final]
    users = [args for word, args in final if word == "USER"]
    assert users, "USER in the final stage"
    user = users[-1].split(":")[0]
    assert user.isdigit()
    assert user not in ("0", "root")
    assert words.index("USER") < words.index("ENTRYPOINT")
    assert all(word not in ("RUN",) for word in words[words.index("USER") :])


def test_dockerfile_entrypoint_cmd_ports_volume(dockerfile: list[tuple[str, str]]) -> None:
    final = dict(_last_stage(dockerfile))
    assert json.loads(final["ENTRYPOINT"]) == ["relay"]
    assert json.loads(final["CMD"]) == ["run", "--config", "/etc/relay/relay.yaml"]
    assert set(final["EXPOSE"].split()) == {"8443", "9469"}
    assert "/var/lib/relay" in final["VOLUME"]
    assert dockerfile[0][1].startswith("${PYTHON_IMAGE}") or "python:3.11-slim" in dockerfile[0][1]
    assert any(
        word == "ARG" and args == "PYTHON_IMAGE=python:3.11-slim" for word, args in dockerfile
    )
    assert "pip wheel" in " ".join(args for word, args in dockerfile if word == "RUN")


def _healthcheck(dockerfile: list[tuple[str, str]]) -> list[str]:
    checks = [args for word, args in dockerfile if word == "HEALTHCHECK"]
    assert len(checks) == 1
    exec_form = json.loads(checks[0][checks[0].index("CMD") + 3 :].strip())
    assert isinstance(exec_form, list)
    return exec_form


def test_dockerfile_healthcheck_hits_healthz_with_python(
    dockerfile: list[tuple[str, str]],
) -> None:
    exec_form = _healthcheck(dockerfile)
    assert exec_form[:2] == ["python", "-c"]  # exec form: no shell needed at run time
    assert len(exec_form) == 3
    assert "urllib.request" in exec_form[-1]
    assert "http://127.0.0.1:9469/healthz" in exec_form[-1]
    assert "ProxyHandler({})" in exec_form[-1]  # never through HTTP_PROXY


class _Answer(http.server.BaseHTTPRequestHandler):
    """The admin listener (``/healthz`` 200) or, as a proxy, 502 to everything."""

    status = 200
    asked: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.asked.append(self.path)
        self.send_response(self.status if self.path.endswith("/healthz") else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


class _Proxy(_Answer):
    status = 502
    asked: ClassVar[list[str]] = []


@contextlib.contextmanager
def _serving(handler: type[_Answer]) -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_dockerfile_healthcheck_ignores_http_proxy(
    dockerfile: list[tuple[str, str]],
) -> None:
    """Run the HEALTHCHECK's Python with HTTP_PROXY pointing at a proxy that answers 502: it
    must ask the relay directly (plain urllib would ask the proxy, even for 127.0.0.1)."""
    code = _healthcheck(dockerfile)[-1]
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    with _serving(_Proxy) as proxy, _serving(_Answer) as admin:
        for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
            env[name] = f"http://127.0.0.1:{proxy}"

        def check(port: int) -> int:
            here = code.replace(":9469/", f":{port}/")
            done = subprocess.run(
                [sys.executable, "-c", here], env=env, capture_output=True, timeout=30
            )
            return done.returncode

        assert check(admin) == 0
        # the same request through plain urlopen goes to the proxy (the defect this guards)
        plain = code.replace("u.build_opener(u.ProxyHandler({})).open(", "u.urlopen(")
        assert plain != code
        assert (
            subprocess.run(
                [sys.executable, "-c", plain.replace(":9469/", f":{admin}/")],
                env=env,
                capture_output=True,
                timeout=30,
            ).returncode
            != 0
        )
        assert _Proxy.asked
        _Proxy.asked.clear()
        with socket.socket() as spare:  # nothing listens there: unhealthy
            spare.bind(("127.0.0.1", 0))
            assert check(int(spare.getsockname()[1])) != 0
        assert _Proxy.asked == []


def test_dockerfile_no_remote_add_and_no_secrets(dockerfile: list[tuple[str, str]]) -> None:
    for word, args in dockerfile:
        if word == "ADD":
            assert not re.search(r"https?://", args)
        if word in ("ENV", "ARG", "LABEL"):
            assert not SECRETISH.search(args), (word, args)
    ignore = (DEPLOY / "docker" / "Dockerfile.dockerignore").read_text(encoding="utf-8")
    rules = [line for line in ignore.splitlines() if line and not line.startswith("#")]
    assert rules[0] == "*"  # everything out, then only what the build needs back in


# -- systemd -------------------------------------------------------------------------------
UNIT: Final = DEPLOY / "systemd" / "relay.service"


@pytest.fixture(scope="module")
def unit() -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNIT, encoding="utf-8")
    return parser


def _all(path: Path, section: str, key: str) -> list[str]:
    """Every value of a key that systemd allows to repeat (configparser keeps the last)."""
    values, current = [], ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("["):
            current = line.strip("[]")
        elif current == section and line.startswith(f"{key}="):
            values.append(line.partition("=")[2])
    return values


def test_systemd_unit_hardening(unit: configparser.RawConfigParser) -> None:
    service = unit["Service"]
    expected = {
        "ProtectSystem": "strict",
        "NoNewPrivileges": "yes",
        "DynamicUser": "yes",
        "StateDirectory": "relay",
        "PrivateTmp": "yes",
        "ProtectHome": "yes",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
        "CapabilityBoundingSet": "",
        "MemoryDenyWriteExecute": "yes",
        "Restart": "on-failure",
        "KillSignal": "SIGTERM",
    }
    assert {key: service.get(key) for key in expected} == expected
    assert "@system-service" in _all(UNIT, "Service", "SystemCallFilter")
    # Longer than delivery.stop_timeout_seconds (10 s by default) with room to spare.
    assert int(service["TimeoutStopSec"]) > 10
    assert service["ExecStart"].endswith("relay run --config /etc/relay/relay.yaml")
    # The W^X note for cffi callbacks stays next to the setting.
    assert "cffi" in UNIT.read_text(encoding="utf-8")


def test_systemd_configuration_directory_is_readable_by_the_service_user(
    unit: configparser.RawConfigParser,
) -> None:
    """/etc/relay stays root-owned; the dynamic user reads relay.yaml as "other". A mode
    without o+rx (0750) makes ExecStartPre=relay config check exit 2: the unit never starts."""
    service = unit["Service"]
    assert service["DynamicUser"] == "yes"
    assert service["ExecStartPre"].endswith("relay config check /etc/relay/relay.yaml")
    if "ConfigurationDirectory" in service:
        mode = int(service.get("ConfigurationDirectoryMode", "0755"), 8)  # systemd's default
        assert mode & 0o005 == 0o005, oct(mode)
        assert not mode & 0o022, oct(mode)  # and nobody but root writes it


def test_systemd_credentials_for_every_secret() -> None:
    names = {value.partition(":")[0] for value in _all(UNIT, "Service", "LoadCredential")}
    assert names >= {"signing-key.pem", "tls.key", "slack-bot-token", "slack-signing-secret"}
    assert "/run/credentials/relay.service/" in UNIT.read_text(encoding="utf-8")
    for key in ("Environment",):
        for value in _all(UNIT, "Service", key):
            assert not SECRETISH.search(value)


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze is not None, "systemd-analyze is missing: scripts/test.sh installs systemd"
    relay = Path(sys.executable).with_name("relay")
    assert relay.exists(), "the relay console script next to this interpreter"
    copy = tmp_path / "relay.service"
    copy.write_text(
        UNIT.read_text(encoding="utf-8").replace("/opt/relay/bin/relay", str(relay)),
        encoding="utf-8",
    )
    result = subprocess.run(
        [analyze, "verify", str(copy)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "relay.service" not in result.stderr, result.stderr


# -- compose -------------------------------------------------------------------------------
COMPOSE_DIR: Final = DEPLOY / "compose"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((COMPOSE_DIR / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_compose_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"havenport", "millbrook", "prometheus", "grafana"} <= set(services)
    for name, service in services.items():
        assert service.get("build") or service.get("image"), name
        assert service.get("read_only") is True, name
        user = str(service.get("user", "")).split(":")[0]
        assert user.isdigit(), name
        assert user != "0", name
        assert any(t.split(":")[0] == "/tmp" for t in service.get("tmpfs", [])), name  # noqa: S108
        if name != "lab-init":
            assert service.get("healthcheck", {}).get("test"), name
    for name in ("havenport", "millbrook"):
        relay = services[name]
        assert relay["build"]["dockerfile"] == "deploy/docker/Dockerfile"
        assert (COMPOSE_DIR / relay["build"]["context"] / relay["build"]["dockerfile"]).is_file()
        assert relay["command"][:2] == ["run", "--config"]
        assert relay["command"][2] == f"/etc/relay/{name}/relay.yaml"
        assert "/readyz" in relay["healthcheck"]["test"][-1]
        mounts = {v.split(":")[1]: v for v in relay["volumes"]}
        assert mounts["/etc/relay"].endswith(":ro")
        assert relay["cap_drop"] == ["ALL"]


def test_compose_bind_mounts_exist_in_the_repository(compose: dict[str, Any]) -> None:
    named = set(compose.get("volumes", {}))
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source in named:
                continue
            assert source.startswith("."), (name, volume)
            assert (COMPOSE_DIR / source).exists(), (name, volume)
            assert volume.endswith(":ro"), (name, volume)


def test_compose_no_secret_values(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        env = service.get("environment", {})
        pairs = env.items() if isinstance(env, dict) else (e.partition("=")[::2] for e in env)
        for key, value in pairs:
            assert not SECRETISH.search(f"{key}={value}"), (name, key)


def test_grafana_provisioning() -> None:
    provisioning = DEPLOY / "grafana" / "provisioning"
    (source,) = yaml.safe_load(
        (provisioning / "datasources" / "prometheus.yaml").read_text(encoding="utf-8")
    )["datasources"]
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    (provider,) = yaml.safe_load(
        (provisioning / "dashboards" / "relay.yaml").read_text(encoding="utf-8")
    )["providers"]
    assert provider["options"]["path"] == "/etc/grafana/dashboards"


def test_lab_material_passes_config_check(tmp_path: Path) -> None:
    """make_lab.py writes relay.yaml files that ``relay config check`` accepts."""
    subprocess.run(
        [sys.executable, str(COMPOSE_DIR / "make_lab.py"), str(tmp_path)],
        check=True,
        capture_output=True,
    )
    for name in ("havenport", "millbrook"):
        config = tmp_path / name / "relay.yaml"
        text = config.read_text(encoding="utf-8")
        text = text.replace("/policies/", f"{ROOT}/policies/")
        text = text.replace("sqlite:////var/lib/relay/relay.db", "sqlite:///relay.db")
        config.write_text(text, encoding="utf-8")
        result = subprocess.run(
            [sys.executable, "-m", "relay", "config", "check", str(config)],
            capture_output=True,
            text=True,
            check=False,
            cwd=ROOT,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("config ok: ")


# -- Kubernetes ----------------------------------------------------------------------------
K8S: Final = DEPLOY / "k8s"


@pytest.fixture(scope="module")
def manifests() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc is not None:
                docs.append(doc)
    return docs


def _kind(manifests: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [m for m in manifests if m.get("kind") == kind]


def test_k8s_kinds(manifests: list[dict[str, Any]]) -> None:
    kinds = {m["kind"] for m in manifests}
    assert kinds >= {
        "Namespace",
        "ConfigMap",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "PodMonitor",
    }
    (config,) = _kind(manifests, "ConfigMap")
    assert {"relay.yaml", "policy.yaml"} <= set(config["data"])
    assert not _kind(manifests, "Secret"), "secrets are referenced, never written here"


def test_k8s_deployment_security_and_probes(manifests: list[dict[str, Any]]) -> None:
    (deployment,) = _kind(manifests, "Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    assert pod["terminationGracePeriodSeconds"] > 10
    for container in [*pod.get("initContainers", []), *pod["containers"]]:
        sc = container["securityContext"]
        assert sc["runAsNonRoot"] is True
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
        for env in container.get("env", []):
            assert "value" not in env, "secrets come from secretKeyRef"
    (relay,) = pod["containers"]
    ports = {p["name"]: p["containerPort"] for p in relay["ports"]}
    assert ports == {"federation": 8443, "admin": 9469}
    assert relay["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "admin"}
    assert relay["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "admin"}
    secrets = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    assert secrets == {"relay-signing", "relay-tls", "relay-slack"}


def test_k8s_services_pdb_monitor(manifests: list[dict[str, Any]]) -> None:
    services = {s["metadata"]["name"]: s for s in _kind(manifests, "Service")}
    assert [p["port"] for p in services["relay-federation"]["spec"]["ports"]] == [8443]
    admin = services["relay-admin"]
    assert admin["metadata"]["annotations"]["prometheus.io/path"] == "/metrics"
    (pdb,) = _kind(manifests, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    (monitor,) = _kind(manifests, "PodMonitor")
    assert monitor["spec"]["podMetricsEndpoints"][0]["path"] == "/metrics"
    (policy,) = _kind(manifests, "NetworkPolicy")
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
