#!/usr/bin/env bash
# Regenerates the locks CI installs from (setup.sh uses them on Linux x86_64 with Python 3.11 and torch 2.13.0):
#   linux-py311.txt   the main .venv: depthshot[dev] (the ranges stay in pyproject.toml); torch is left out
#                      (setup.sh pins it on its own, so a CUDA build installed first is kept)
#   blender-py311.txt  .venv-blender: tests/blender_addon/requirements.in (bpy 5.0.1 and its numpy 1.26)
# Run after changing a dependency range, commit the result: ./constraints/compile.sh
set -eu
cd "$(dirname "$0")/.."
uv=.venv/bin/uv
pin=$(mktemp)
echo "torch==2.13.0" > "$pin"
fl=$(.venv/bin/python -m pip config get global.find-links 2>/dev/null || true)
if [ -n "$fl" ]; then UV_FIND_LINKS=$fl; export UV_FIND_LINKS; fi
"$uv" pip compile --quiet --no-python-downloads --python .venv/bin/python --python-version 3.11 \
    --python-platform x86_64-manylinux_2_35 --no-emit-package torch --no-header -c "$pin" --extra dev \
    pyproject.toml -o constraints/linux-py311.txt
"$uv" pip compile --quiet --no-python-downloads --python .venv/bin/python --python-version 3.11 \
    --python-platform x86_64-manylinux_2_35 --no-header tests/blender_addon/requirements.in \
    -o constraints/blender-py311.txt
rm -f "$pin"
