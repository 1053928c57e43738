#!/usr/bin/env bash
# Installs everything (first run) and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Debian's headless Chromium renders the sweep report in tests/data/experiment/test_sweep_report.py (skipped without it).
if [ ! -x /usr/bin/chromium ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
      || echo "warning: could not install chromium with apt-get; the report render test will be skipped" >&2
  else
    echo "warning: /usr/bin/chromium is missing and apt-get (as root) is unavailable; the report render test will be skipped" >&2
  fi
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONHASHSEED=0
# Two worker processes, one test module each at a time (its module fixtures built once), modules with
# slow tests first (tests/conftest.py). Serially: .venv/bin/python -m pytest -q
exec .venv/bin/python -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder "$@"
