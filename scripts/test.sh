#!/usr/bin/env bash
# Run the whole test suite on a fresh machine: Prometheus and systemd-analyze (Debian's
# packages, for the ops tests), venv, install, lint, types, tests.
set -euo pipefail
cd "$(dirname "$0")/.."

# The ops tests (tests/ops) run the real Prometheus and promtool, and `systemd-analyze verify`
# on the systemd unit: install Debian's packages when they are missing. The tests fail (never
# skip) without them. The prometheus package's own service, if it starts, is not used: the
# tests start their own prometheus on a free loopback port.
missing=""
command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 \
    || missing="$missing prometheus"
command -v systemd-analyze >/dev/null 2>&1 || missing="$missing systemd"
if [ -n "$missing" ]; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        SUDO="sudo"
    fi
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    $SUDO env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends $missing
fi

python3 -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate
pip install --quiet --disable-pip-version-check -e '.[dev]'
ruff check relay tests
ruff format --check relay tests
mypy relay tests  # strict: pyproject.toml [tool.mypy] (tests.* may leave test functions unannotated)
pytest -q "$@"
