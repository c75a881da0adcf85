#!/usr/bin/env bash
# The test suite, one command:  bash scripts/test.sh [pytest arguments]
#
# Sets up .venv with the project and its test extras (the same steps as scripts/start.sh),
# then runs pytest, offline; its exit status is this script's exit status.
#   e.g.  bash scripts/test.sh -m "not browser" -x
set -euo pipefail

# shellcheck source=scripts/_venv.sh
. "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
workbench_venv "offline,test"

cd "$WORKBENCH_ROOT"
# axe-core for the browser tests' accessibility checks (npm, pinned by tests/browser/axe/package-lock.json)
axe=tests/browser/axe
if [ ! -f "$axe/node_modules/axe-core/axe.min.js" ] && command -v npm >/dev/null 2>&1; then
    npm ci --prefix "$axe" --no-audit --no-fund --silent ||
        _wb_log "npm ci --prefix $axe failed: the accessibility checks will fail"
fi
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
export HF_HUB_DISABLE_TELEMETRY=1
exec python -m pytest "$@"
