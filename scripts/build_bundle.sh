#!/usr/bin/env bash
# Build the desktop bundle (a one-folder PyInstaller build of stmanet-app, dist/stmanet-app/)
# and check it: its size, its self-test (start-up time to the first prediction) and the
# trainer inside it. See docs/packaging.md.
#
#   scripts/build_bundle.sh                       # build, then self-test with the demo files
#   scripts/build_bundle.sh --model M --video V   # ... self-test another model / video
#   SKIP_BUILD=1 scripts/build_bundle.sh          # only check the bundle already in dist/
#
# PYTHON picks the interpreter (default python3); it needs the project installed with its
# `bundle` extra: $PYTHON -m pip install -e ".[bundle]" (`make bundle` does that first).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

if [ "${SKIP_BUILD:-0}" != "1" ]; then
    if ! "$PYTHON" -c "import PyInstaller" 2>/dev/null; then
        echo "PyInstaller is not installed for $PYTHON: $PYTHON -m pip install -e '.[bundle]'" >&2
        exit 2
    fi
    if [ ! -f resources/models/demo.safetensors ] || [ ! -f resources/videos/demo.mp4 ]; then
        echo "note: resources/ holds no demo model or demo video: the bundle ships without" \
             "them, and its self-test needs --model and --video" >&2
    fi
    started=$(date +%s)
    "$PYTHON" -m PyInstaller --noconfirm --clean --log-level WARN \
        --distpath dist --workpath build build.spec
    echo "built dist/stmanet-app in $(( $(date +%s) - started )) s"
fi

if [ "$#" -gt 0 ]; then
    exec "$PYTHON" scripts/check_bundle.py --bundle dist/stmanet-app -- "$@"
fi
exec "$PYTHON" scripts/check_bundle.py --bundle dist/stmanet-app
