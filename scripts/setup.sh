#!/usr/bin/env bash
# Set up resdsl on a fresh machine: Graphviz's `dot` (a system package) and the
# Python package with torch pinned (a bare `torch` pulls several GB of CUDA wheels).
#
#   bash scripts/setup.sh          the package, to use it
#   bash scripts/setup.sh --dev    the package and its test tools (what CI runs),
#                                  with the TextMate grammar test tool where npm is installed
#
# Quiet when all goes well; on a failure it prints what failed and exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."

target="."
case "${1:-}" in
    "") ;;
    --dev) target=".[dev]" ;;
    *) echo "usage: bash scripts/setup.sh [--dev]" >&2; exit 2 ;;
esac

if ! command -v dot >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        log="$(mktemp)"
        if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz; } >"$log" 2>&1; then
            cat "$log" >&2
            echo "error: could not install graphviz with apt-get" >&2
            exit 1
        fi
        rm -f "$log"
    elif [ "$target" != "." ]; then
        echo "error: Graphviz's 'dot' is missing and the image tests need it:" \
            "install the 'graphviz' package (apt-get as root, brew on macOS)" >&2
        exit 1
    else
        echo "note: Graphviz's 'dot' is missing: everything works except writing" \
            "diagrams as images (install the 'graphviz' package for those)"
    fi
fi

python="$(command -v python || command -v python3)"
"$python" -m pip install -q --disable-pip-version-check --root-user-action=ignore \
    "torch==2.13.0" -e "$target"

# The TextMate grammar's test tool (vscode-tmgrammar-test), from the lock file,
# where Node.js is installed; without it the suite skips that one test.
if [ "$target" != "." ] && command -v npm >/dev/null 2>&1; then
    log="$(mktemp)"
    if ! npm ci --prefix editors/vscode --no-audit --no-fund --loglevel=error >"$log" 2>&1; then
        cat "$log" >&2
        echo "note: could not install the grammar test tool; its test will be skipped" >&2
    fi
    rm -f "$log"
fi
