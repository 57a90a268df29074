#!/usr/bin/env bash
# Run the whole test suite on a fresh machine: venv, install, lint, types, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate
pip install --quiet --disable-pip-version-check -e '.[dev]'
ruff check relay tests
ruff format --check relay tests
mypy --strict relay
pytest -q "$@"
