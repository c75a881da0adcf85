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
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
export HF_HUB_DISABLE_TELEMETRY=1
exec python -m pytest "$@"
