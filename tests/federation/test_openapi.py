"""docs/openapi.yaml describes the routes and the refusal reasons the server really uses."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import yaml

from relay.core.reasons import HTTP_REASONS, Reason
from relay.federation.checkpoints import CheckpointHandler, add_checkpoint_routes
from relay.federation.receipts import ReceiptHandler, add_receipt_routes
from relay.federation.server import EnvelopeHandler, build_federation_app

SPEC = yaml.safe_load((Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml").read_text())


def test_every_route_is_described():
    # The routes are listed, never called: no handler is needed behind them.
    app = build_federation_app(
        cast("EnvelopeHandler", object()),
        max_body_bytes=1024,
        read_timeout=1.0,
        rate_per_second=1.0,
        rate_burst=1,
    )
    add_checkpoint_routes(app, cast("CheckpointHandler", object()))  # as relay.app does
    add_receipt_routes(app, cast("ReceiptHandler", object()))
    routes = set()
    for r in app.router.routes():
        assert r.resource is not None
        if r.method != "HEAD":
            routes.add((r.method.lower(), r.resource.canonical))
    described = {(method, path) for path, ops in SPEC["paths"].items() for method in ops}
    assert routes == described


def test_every_reason_is_listed_with_the_status_the_server_sends():
    reasons = SPEC["x-reasons"]
    for reason in HTTP_REASONS - {Reason.INTERNAL, Reason.WRONG_TYPE}:
        assert reason.value in reasons, reason
        assert reasons[reason.value][0] == reason.http_status, reason
    statuses = {str(v[0]) for v in reasons.values()}
    answered = {
        s for ops in SPEC["paths"].values() for op in ops.values() for s in op["responses"]
    }
    assert statuses <= answered
