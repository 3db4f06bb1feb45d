#!/usr/bin/env bash
# Creates .venv with depthshot[dev] (the core and its tests) and .venv-blender (the add-on's tests: the bpy wheel
# with its numpy 1.26, as Blender's own Python has it). Safe to run again.
#   - System packages (Debian/Ubuntu, when run as root): libusb (Open3D imports it), Mesa's Vulkan driver
#     (Open3D's headless renderer), and ffmpeg + mkvtoolnix (the tests' independent readers: ffprobe, mkvinfo).
#   - PyTorch: an already installed torch in .venv is kept (install the CUDA build there first on a GPU machine);
#     otherwise torch==2.13.0 (the CPU build on machines that provide it locally).
#   - Versions: on Linux x86_64 with Python 3.11 and torch 2.13.0 everything comes from the locks in constraints/
#     (what CI installs); elsewhere, or with DEPTHSHOT_LOCK=0, from pyproject.toml's ranges.
#   - .venv-blender needs Python 3.11 (the only one bpy 5.0.1 is built for): $BLENDER_TESTS_PYTHON, python3.11, or
#     $PYTHON when that is 3.11; without one the add-on's tests are reported as skipped.
# Written for bash 3.2 (macOS) and any POSIX sh: no arrays, no mapfile, no pipefail (tests/test_packaging.py checks
# that dash parses it).
set -eu
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
TORCH_PIN=2.13.0

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    missing=$(for p in libusb-1.0-0 mesa-vulkan-drivers ffmpeg mkvtoolnix; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
    if [ -n "$missing" ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
    fi
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check uv
uv=.venv/bin/uv
# uv does not read pip's configuration: hand it the local wheel folder pip uses (the CPU torch lies there)
fl=$(.venv/bin/python -m pip config get global.find-links 2>/dev/null || true)
if [ -n "$fl" ]; then UV_FIND_LINKS=$fl; export UV_FIND_LINKS; fi

torch_version=$(.venv/bin/python -c "import torch; print(torch.__version__.split('+')[0])" 2>/dev/null || true)
if [ -z "$torch_version" ]; then
    torch_version=$TORCH_PIN
    "$uv" pip install --python .venv/bin/python "torch==$torch_version"
fi
# pin the torch that is there, so nothing resolves a different (CUDA) build behind our back
echo "torch==$torch_version" > .venv/constraints.txt

where=$(.venv/bin/python -c "import platform, sys; print(sys.platform, platform.machine(), '%d.%d' % sys.version_info[:2])")
if [ "${DEPTHSHOT_LOCK:-1}" != 0 ] && [ "$where" = "linux x86_64 3.11" ] && [ "$torch_version" = "$TORCH_PIN" ]; then
    "$uv" pip install --python .venv/bin/python -c .venv/constraints.txt -c constraints/linux-py311.txt -e '.[dev]'
    how="the lock constraints/linux-py311.txt"
else
    "$uv" pip install --python .venv/bin/python -c .venv/constraints.txt -e '.[dev]'
    how="pyproject.toml's ranges ($where, torch $torch_version)"
fi
echo "depthshot is installed in .venv from $how"

# the add-on's test environment: bpy 5.0.1 exists for Python 3.11 only
bpy_py=""
for candidate in "${BLENDER_TESTS_PYTHON:-}" python3.11 "$PY"; do
    [ -n "$candidate" ] || continue
    if "$candidate" -c "import sys; sys.exit(sys.version_info[:2] != (3, 11))" >/dev/null 2>&1; then
        bpy_py=$candidate
        break
    fi
done
if [ -z "$bpy_py" ]; then
    echo "no Python 3.11 found: .venv-blender not made, the add-on's tests will be skipped (set BLENDER_TESTS_PYTHON)"
    exit 0
fi
[ -x .venv-blender/bin/python ] || "$bpy_py" -m venv .venv-blender
if [ "${DEPTHSHOT_LOCK:-1}" != 0 ] && [ "$where" = "linux x86_64 3.11" ]; then
    "$uv" pip install --python .venv-blender/bin/python -c constraints/blender-py311.txt -r tests/blender_addon/requirements.in
else
    "$uv" pip install --python .venv-blender/bin/python -r tests/blender_addon/requirements.in
fi
echo "the add-on's tests run in .venv-blender (bpy 5.0.1, numpy 1.26); ./test.sh runs both suites"
