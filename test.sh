#!/usr/bin/env bash
# The test command: the core's tests in .venv, then the Blender add-on's in .venv-blender (bpy 5.0.1 with its
# numpy 1.26, as Blender has its own Python; the worker they launch runs from .venv). Both are made by ./setup.sh.
# Options are passed to both pytest runs (e.g. ./test.sh -m "not slow"); the status is non-zero if either fails.
# Written for bash 3.2 and any POSIX sh (tests/test_packaging.py checks that dash parses it).
set -eu
cd "$(dirname "$0")"
core=0
.venv/bin/python -m pytest "$@" || core=$?
addon=0
if [ -x .venv-blender/bin/python ]; then
    echo "== the add-on's tests (tests/blender_addon) in .venv-blender"
    .venv-blender/bin/python -m pytest "$@" tests/blender_addon || addon=$?
else
    echo "no .venv-blender (it needs Python 3.11; see setup.sh): the add-on's tests were skipped above"
fi
echo "core tests: exit $core; add-on tests: exit $addon"
[ "$core" = 0 ] && [ "$addon" = 0 ]
