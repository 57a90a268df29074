"""What the relay connects to and listens on, checked by ``relay config check``: the store
URL (``--connect``: opened and pinged), the Slack secrets and API URL, the listener ports."""

from __future__ import annotations

import ipaddress
import os
from contextlib import suppress
from pathlib import Path
from urllib.parse import urlsplit

from relay.commands.config.report import Lines, Report, mode_warning
from relay.config import RelayConfig, Secret

__all__ = ["check_listeners", "check_slack", "check_store"]


def check_store(config: RelayConfig, lines: Lines, report: Report, connect: bool) -> None:
    from relay.store.open import open_store

    src, at, url = config.source, lines.at("store"), config.store
    base = Path(config.source).parent
    if url.startswith("sqlite:///"):
        raw = url.removeprefix("sqlite:///")
        if not raw:
            report.error(src, at, "store sqlite:/// needs a path, as in sqlite:///relay.db")
            return
        path = Path(raw) if Path(raw).is_absolute() else base / raw
        if not path.parent.is_dir():
            hint = "" if Path(raw).is_absolute() else " (sqlite:///PATH is relative to this file; "
            hint += "" if Path(raw).is_absolute() else "sqlite:////PATH is absolute)"
            report.error(src, at, f"store directory {path.parent} does not exist{hint}")
            return
    elif url.startswith(("postgresql://", "postgres://")):
        try:
            parts = urlsplit(url)
            _ = parts.port  # raises on a port that is not a number
            from psycopg.conninfo import conninfo_to_dict

            conninfo_to_dict(url)
        except Exception as exc:  # noqa: BLE001 - the driver's text may echo the URL
            report.error(src, at, f"store URL does not parse ({type(exc).__name__})")
            return
        if parts.password:
            report.error(
                src, at, "store URL holds a password: use PGPASSWORD or a .pgpass file instead"
            )
    else:
        scheme = url.partition("://")[0] if "://" in url else "(none)"
        report.error(
            src, at, f"store URL scheme {scheme!r} is not supported (sqlite:/// or postgresql://)"
        )
        return
    if not connect:
        return
    try:
        store = open_store(url, base_dir=base)
    except Exception as exc:  # noqa: BLE001 - driver text may echo the URL and its password
        detail = str(exc) if type(exc) in (ValueError, RuntimeError) else type(exc).__name__
        report.error(src, at, f"store: cannot open ({detail})")
        return
    try:
        store.ping()
    except Exception as exc:  # noqa: BLE001 - same
        report.error(src, at, f"store: ping failed ({type(exc).__name__})")
    finally:
        with suppress(Exception):
            store.close()


def _check_secret(
    secret: Secret, name: str, src: str, at: int, report: Report, required: bool
) -> None:
    if secret.env:
        if not os.environ.get(secret.env, "").strip():
            report.error(
                src, at, f"slack.{name}_env: environment variable {secret.env} is not set"
            )
    elif secret.file:
        try:
            if not secret.file.read_text(encoding="utf-8").strip():
                report.error(src, at, f"slack.{name}_file {secret.file} is empty")
        except (OSError, UnicodeDecodeError) as exc:
            report.error(
                src, at, f"slack.{name}_file {secret.file}: cannot read ({type(exc).__name__})"
            )
            return
        mode_warning(secret.file, f"slack.{name}_file", src, at, report)
    elif required:  # pragma: no cover - the loader refuses it
        report.error(src, at, f"slack: missing {name}_env or {name}_file")


def check_slack(config: RelayConfig, lines: Lines, report: Report) -> None:
    slack, src = config.slack, config.source
    if slack is None:
        return

    def at(name: str) -> int:
        for key in (f"{name}_env", f"{name}_file"):
            if lines.at("slack", key) != lines.at("slack"):
                return lines.at("slack", key)
        return lines.at("slack")

    _check_secret(slack.bot_token, "bot_token", src, at("bot_token"), report, True)
    if slack.mode == "events":
        _check_secret(
            slack.signing_secret, "signing_secret", src, at("signing_secret"), report, True
        )
    else:
        _check_secret(slack.app_token, "app_token", src, at("app_token"), report, True)
    try:
        api = urlsplit(slack.api_url)
        loopback = _is_loopback(api.hostname or "")
        if api.scheme != "https" and not (api.scheme == "http" and loopback):
            report.error(
                src,
                lines.at("slack", "api_url"),
                "slack.api_url must be https (http: loopback only)",
            )
    except ValueError:
        report.error(src, lines.at("slack", "api_url"), "slack.api_url does not parse")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_listeners(config: RelayConfig, lines: Lines, report: Report) -> None:
    src = config.source
    listeners: list[tuple[str, str, int, int]] = [
        (
            "federation",
            config.federation.host,
            config.federation.port,
            lines.at("federation", "listen", "port"),
        ),
    ]
    if config.slack is not None and config.slack.mode == "events":
        listeners.append(
            ("slack", config.slack.host, config.slack.port, lines.at("slack", "listen", "port"))
        )
    if config.admin is not None:
        listeners.append(
            ("admin", config.admin.host, config.admin.port, lines.at("admin", "listen", "port"))
        )
    for name, _host, port, at in listeners:
        if not 0 <= port <= 65535:
            report.error(src, at, f"{name} listen port {port} is not 0-65535")
    wildcard = {"0.0.0.0", "::", ""}  # noqa: S104 - compared with, never bound
    for i, (name, host, port, at) in enumerate(listeners):
        for other, other_host, other_port, _ in listeners[:i]:
            if port == 0 or port != other_port:
                continue
            if host == other_host or host in wildcard or other_host in wildcard:
                report.error(
                    src,
                    at,
                    f"{name} and {other} listeners both use {host or '*'}:{port}",
                )
