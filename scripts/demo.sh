#!/usr/bin/env bash
# Installs everything (first run) and runs the main job on bundled real data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/prunekit demo "$@"
