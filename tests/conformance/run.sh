#!/usr/bin/env bash
# The conformance stage: checks the Graph simulator with Microsoft's Graph SDK for Python.
# Makes (or reuses) a virtualenv under target/ holding the pinned SDK from PyPI, builds the
# operator binary, and runs conformance.py against the binary's `sim` subcommand. The last
# line printed is "conformance: N passed, M failed"; the exit status is non-zero on failure.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
venv=target/conformance-venv
requirements=tests/conformance/requirements.txt
installed=$venv/.installed-requirements

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
# Reinstall only when the pins changed since the last install.
if ! cmp -s "$requirements" "$installed"; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$installed"
fi

cargo build --quiet --bin m365-operator
exec "$venv/bin/python" tests/conformance/conformance.py \
  --operator target/debug/m365-operator "$@"
