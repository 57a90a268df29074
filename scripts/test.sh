#!/usr/bin/env bash
# Run the whole test suite on a fresh machine: Prometheus (Debian's package, for the ops
# tests), venv, install, lint, types, tests.
set -euo pipefail
cd "$(dirname "$0")/.."

# The ops tests (tests/ops) run the real Prometheus and promtool: install Debian's package when
# they are missing. They fail (never skip) without it. The package's own systemd service, if it
# starts, is not used: the tests start their own prometheus on a free loopback port.
if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        SUDO="sudo"
    fi
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends prometheus
fi

python3 -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate
pip install --quiet --disable-pip-version-check -e '.[dev]'
ruff check relay tests
ruff format --check relay tests
mypy --strict relay
pytest -q "$@"
