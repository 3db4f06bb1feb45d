#!/usr/bin/env bash
# Creates .venv with depthshot and everything its tests need. Safe to run again.
#   - System packages (Debian/Ubuntu, when run as root): libusb (Open3D imports it), Mesa's Vulkan driver
#     (Open3D's headless renderer), and ffmpeg + mkvtoolnix (the tests' independent readers: ffprobe, mkvinfo).
#   - PyTorch: an already installed torch in .venv is kept (install the CUDA build there first on a GPU machine);
#     otherwise torch==2.13.0 (the CPU build on machines that provide it locally).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    missing=$(for p in libusb-1.0-0 mesa-vulkan-drivers ffmpeg mkvtoolnix; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
    if [ -n "$missing" ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
    fi
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check uv
links=()
fl=$(.venv/bin/python -m pip config get global.find-links 2>/dev/null || true)
[ -n "$fl" ] && links=(--find-links "$fl")

torch_version=$(.venv/bin/python -c "import torch; print(torch.__version__.split('+')[0])" 2>/dev/null || true)
if [ -z "$torch_version" ]; then
    torch_version=2.13.0
    .venv/bin/uv pip install --python .venv/bin/python "${links[@]}" "torch==$torch_version"
fi
# pin the torch that is there, so nothing resolves a different (CUDA) build behind our back
echo "torch==$torch_version" > .venv/constraints.txt
.venv/bin/uv pip install --python .venv/bin/python "${links[@]}" -c .venv/constraints.txt -e '.[dev]'
echo "depthshot is installed in .venv (torch $torch_version)"
