#!/usr/bin/env bash
# The workbench, one command:  bash scripts/start.sh
#
# Sets up .venv (CPU torch + the project with its embedded offline models), then opens
# JupyterLab on the tour notebook, fully offline, listening on 127.0.0.1 only.
#
#   WORKBENCH_NO_LAUNCH=1   install only, do not start JupyterLab
#   WORKBENCH_NO_BROWSER=1  do not try to open a web browser
#   WORKBENCH_PORT=8888     port to listen on (default: 8888; a free one when it is taken)
#   JUPYTER_TOKEN=...       access token (default: a fresh random one)
#   WORKBENCH_VENV=...      venv location (default: .venv in the repository)
#
# Run it again while JupyterLab runs: it prints the running server's address and exits.
set -euo pipefail

# shellcheck source=scripts/_venv.sh
. "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
workbench_venv "offline"

if [ "${WORKBENCH_NO_LAUNCH:-0}" = 1 ]; then
    _wb_log "installed; WORKBENCH_NO_LAUNCH=1, not starting JupyterLab"
    exit 0
fi

cd "$WORKBENCH_ROOT"
tour="notebooks/00_tour.ipynb"
[ -f "$tour" ] || { _wb_log "missing $tour"; exit 1; }

# Already running from this checkout: its address (with its token) is what the user needs.
running="$(python scripts/_lab.py running "$WORKBENCH_ROOT" "$tour")"
if [ -n "$running" ]; then
    printf '\n[workbench] JupyterLab is already running for this folder; the tour is at:\n\n    %s\n\n' "$running"
    exit 0
fi

wanted="${WORKBENCH_PORT:-8888}"
port="$(python scripts/_lab.py port "$wanted")"
[ "$port" = "$wanted" ] || _wb_log "port $wanted is in use by another program; using port $port"
export JUPYTER_TOKEN="${JUPYTER_TOKEN:-$(python -c 'import secrets; print(secrets.token_hex(24))')}"
export HF_HUB_OFFLINE=1
export HF_HUB_DISABLE_TELEMETRY=1
# scripts/jupyter holds the offline configuration: Lab's settings overrides and, for Voila when it is
# installed, voila.json choosing the "offline" template (no Font Awesome from a CDN)
export JUPYTER_PATH="$WORKBENCH_ROOT/scripts/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}"
export JUPYTER_CONFIG_PATH="$WORKBENCH_ROOT/scripts/jupyter${JUPYTER_CONFIG_PATH:+:$JUPYTER_CONFIG_PATH}"

args=(
    --ip=127.0.0.1
    "--port=$port"
    --ServerApp.port_retries=0
    "--ServerApp.root_dir=$WORKBENCH_ROOT"
    "--LabApp.default_url=/lab/tree/$tour"
    # offline: no news feed (and no "get notified about Jupyter news?" pop-up: the overrides
    # in scripts/jupyter/lab/settings turn the announcements off), no update check, no extension
    # manager reaching PyPI
    "--LabApp.app_settings_dir=$WORKBENCH_ROOT/scripts/jupyter/lab/settings"
    --LabApp.news_url=None
    --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate
    --LabApp.extension_manager=readonly
)
[ "$(id -u)" = 0 ] && args+=(--allow-root)
if [ "${WORKBENCH_NO_BROWSER:-0}" = 1 ] ||
    { [ "$(uname -s)" = Linux ] && [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; }; then
    args+=(--no-browser)
fi

# our own notebook: let its saved widget views and HTML render before it is re-run
jupyter trust "$tour" >/dev/null 2>&1 || true

url="http://127.0.0.1:$port/lab/tree/$tour?token=$JUPYTER_TOKEN"
printf '\n[workbench] the tour opens at:\n\n    %s\n\n[workbench] stop with Ctrl-C\n\n' "$url"
exec jupyter lab "${args[@]}"
