#!/usr/bin/env bash
# Make (or reuse) the venv with Blender-as-a-module (`bpy` from PyPI) for the Blender add-on test.
#
#   bash tests/plugins/make_bpy_venv.sh [VENV]      default VENV: $ZPIPE_BPY_VENV or /tmp/zpipe-bpy-venv
#
# bpy 5.0 is Blender 5.0 for CPython 3.11 only and needs numpy<2, so it cannot share zpipe's venv.
# The venv is reused when it already imports bpy (CI caches it at a fixed path); the wheel is ~375 MB.
# Prints the venv's python on the last line; exit 1 (with the reason on stderr) when it cannot be made.
set -euo pipefail
VENV=${1:-${ZPIPE_BPY_VENV:-/tmp/zpipe-bpy-venv}}
BPY_SPEC=${ZPIPE_BPY_SPEC:-bpy==5.0.1}

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import bpy" >/dev/null 2>&1; then
    echo "$VENV/bin/python"
    exit 0
fi

PY311=${PYTHON311:-}
if [ -z "$PY311" ]; then
    for cand in python3.11 python3; do
        if command -v "$cand" >/dev/null && "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
            PY311=$(command -v "$cand"); break
        fi
    done
fi
if [ -z "$PY311" ]; then
    echo "make_bpy_venv: bpy needs CPython 3.11 and none was found (set PYTHON311)" >&2
    exit 1
fi

rm -rf "$VENV"
"$PY311" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip >&2
"$VENV/bin/python" -m pip install -q "numpy>=1.26,<2" "$BPY_SPEC" >&2
"$VENV/bin/python" -c "import bpy; print('bpy', bpy.app.version_string)" >&2
echo "$VENV/bin/python"
