"""The admin listener: ``GET /metrics``, ``/healthz``, ``/readyz`` and ``/status``.

Plain HTTP on its own socket (``admin:`` in ``relay.yaml``, default ``127.0.0.1:9469``),
separate from the federation and Slack listeners: bind it to loopback or a management network.

* ``/metrics``: the relay's :class:`~relay.metrics.RelayMetrics` registry in the Prometheus
  text format. ``before_scrape`` runs first (the relay refreshes its queue gauges from the
  store there); if it fails, the rest is still served and the failure is logged.
* ``/healthz``: ``200 {"status": "alive"}`` while the process answers.
* ``/readyz``: ``200 {"ready": true, "checks": {...}}`` or
  ``503 {"ready": false, "checks": {...}, "error": "not_ready"}``. Checks that raise, hang
  (longer than ``CHECK_TIMEOUT``) or answer anything but ``True`` count as failed.
* ``/status``: a JSON summary from ``status`` (``404`` when the relay gives none).

Every other answer is JSON with a machine-readable ``error`` (``not_found``,
``method_not_allowed``, ``internal_error``...). Nothing here carries message text.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from relay.logs import get_logger
from relay.metrics import RelayMetrics

__all__ = ["CHECK_TIMEOUT", "build_admin_app", "start_admin"]

CHECK_TIMEOUT: Final = 5.0  # seconds; a readiness probe must answer well before its own
SCRAPE_HOOK_TIMEOUT: Final = 5.0  # seconds for before_scrape; Prometheus' default timeout is 10

Checks = Callable[[], Awaitable[Mapping[str, bool]]]
Hook = Callable[[], Awaitable[None]]
Status = Callable[[], Awaitable[Mapping[str, Any]]]

log = get_logger("admin")

_ERRORS: Final[Mapping[int, str]] = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    500: "internal_error",
    503: "unavailable",
}
_NO_STORE: Final = {"Cache-Control": "no-store"}


def _error(status: int, code: str, **extra: Any) -> web.Response:
    return web.json_response({"error": code, **extra}, status=status, headers=_NO_STORE)


@web.middleware
async def _json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """aiohttp's plain-text error pages become ``{"error": "<code>"}``."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = _error(exc.status, _ERRORS.get(exc.status, "http_error"))
        if exc.status == 405 and "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - never a traceback or its text on the wire
        log.error("admin_request_failed", path=request.path, exc_type=type(exc).__name__)
        return _error(500, "internal_error")


async def _run_checks(checks: Checks) -> dict[str, bool]:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            answer = await checks()
        return {str(name): value is True for name, value in answer.items()}
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - a check that raises (or hangs) is a failed check
        log.warning("readiness_check_failed", exc_type=type(exc).__name__)
        return {"readiness": False}


def build_admin_app(
    *,
    metrics: RelayMetrics,
    checks: Checks,
    before_scrape: Hook | None = None,
    status: Status | None = None,
) -> web.Application:
    """The admin routes over ``metrics``; see the module docstring for the answers."""

    async def get_metrics(_: web.Request) -> web.Response:
        if before_scrape is not None:
            try:
                async with asyncio.timeout(SCRAPE_HOOK_TIMEOUT):
                    await before_scrape()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - serve the other figures regardless
                log.warning("metrics_refresh_failed", exc_type=type(exc).__name__)
        body = generate_latest(metrics.registry)
        response = web.Response(body=body, headers=_NO_STORE)
        # CONTENT_TYPE_LATEST carries a charset parameter, which aiohttp will not take in
        # content_type=: set the header as is.
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    async def get_healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "alive"}, headers=_NO_STORE)

    async def get_readyz(_: web.Request) -> web.Response:
        results = await _run_checks(checks)
        ready = bool(results) and all(results.values())
        if ready:
            return web.json_response({"ready": True, "checks": results}, headers=_NO_STORE)
        return web.json_response(
            {"ready": False, "checks": results, "error": "not_ready"},
            status=503,
            headers=_NO_STORE,
        )

    async def get_status(_: web.Request) -> web.Response:
        if status is None:
            return _error(404, "not_found")
        try:
            body = dict(await status())
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the text may name what it should not
            log.warning("status_failed", exc_type=type(exc).__name__)
            return _error(503, "status_unavailable")
        return web.json_response(body, headers=_NO_STORE)

    app = web.Application(middlewares=[_json_errors], client_max_size=1024)
    app.router.add_get("/metrics", get_metrics)
    app.router.add_get("/healthz", get_healthz)
    app.router.add_get("/readyz", get_readyz)
    app.router.add_get("/status", get_status)
    return app


async def start_admin(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, str]:
    """Listen on ``host:port`` (``0`` picks a free port); the caller cleans the runner up.
    Returns the runner and the base URL, e.g. ``http://127.0.0.1:9469``."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0][1]
    except BaseException:
        await runner.cleanup()
        raise
    shown = f"[{host}]" if ":" in host else host
    return runner, f"http://{shown}:{bound}"
