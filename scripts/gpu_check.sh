#!/usr/bin/env bash
# The GPU check of depthshot: the CUDA tests and `python -m core.bench gpu`, in one device run.
#
#   scripts/gpu_check.sh prepare   # here (no GPU needed): .gpu/ with the packages and fixtures the device lacks
#   scripts/gpu_check.sh run       # on the GPU machine, from the repository root: logs and report.json in $OUT
#
# The device machine has no network and its own python3 (3.12, a CUDA torch, numpy, opencv, transformers, pytest)
# but not PyAV, isal or diffusers, and ../shared does not travel: `prepare` puts those packages (unpacked wheels,
# xz-compressed, ~27 MB) and the VDA fixtures the bench and the tests read (~14 MB) into .gpu/, which is git-ignored
# and must be named in the run's carry: run(command="bash scripts/gpu_check.sh run", carry=[".gpu"], timeout_s=600).
#
# `run` spends at most GPU_CHECK_S seconds (default 570, under the device's 600 s a command): environment facts,
# then `pytest -m cuda` (at most 120 s), then the bench with what is left (its --budget-s 100 s less, so that it
# starts no section it cannot finish; the report is written after every section, and a timeout keeps those).
# Files in $OUT: env.txt, pytest_cuda.log, bench.log, report.json. Exit status: the bench's (0 when every section
# ran), else the tests'. The device's 15 minutes a session hold one full run (plus the machine's start); a second,
# shorter call on the still-warm machine can redo some sections: GPU_CHECK_S=200 GPU_BENCH_ARGS="--sections engine".
set -uo pipefail

cd "$(dirname "$0")/.."
GPU_DIR=.gpu

prepare() {
    local py=${PYTHON:-.venv/bin/python}
    local fixtures=${DEPTHSHOT_FIXTURES:-../shared/fixtures/vda}
    [[ -f $fixtures/make_weights.py ]] || { echo "error: no VDA fixtures in $fixtures (set DEPTHSHOT_FIXTURES)" >&2; exit 2; }
    local tmp
    tmp=$(mktemp -d)
    trap "rm -rf '$tmp'" EXIT
    # the versions this checkout's environment runs (setup.sh's lock), as cp312 manylinux wheels
    local pins
    pins=$("$py" -c 'from importlib.metadata import version as v; print(*(f"{n}=={v(n)}" for n in ("av", "isal", "diffusers")))') || exit 1
    # shellcheck disable=SC2086
    "$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d "$tmp/whl" $pins || exit 1
    mkdir -p "$tmp/site" "$tmp/gpu/shared/fixtures/vda"
    for w in "$tmp"/whl/*.whl; do
        "$py" -m zipfile -e "$w" "$tmp/site" || exit 1  # installing these wheels is unpacking them
    done
    tar -cJf "$tmp/gpu/site.tar.xz" -C "$tmp/site" . || exit 1
    cp "$fixtures"/make_weights.py "$fixtures"/layout_*.json "$fixtures"/forward_*.npz "$fixtures"/long_vits.npz \
        "$tmp/gpu/shared/fixtures/vda/" || exit 1
    echo "$pins" > "$tmp/gpu/packages.txt"
    rm -rf "$GPU_DIR" && mv "$tmp/gpu" "$GPU_DIR"
    du -sh "$GPU_DIR"
    echo "ready: run(command=\"bash scripts/gpu_check.sh run\", carry=[\"$GPU_DIR\"], timeout_s=600)"
}

run() {
    local total=${GPU_CHECK_S:-570} start=$SECONDS
    local out=${OUT:-out/gpu} py=${PYTHON:-python3}
    mkdir -p "$out"
    [[ -f $GPU_DIR/site.tar.xz ]] || { echo "error: $GPU_DIR/site.tar.xz missing: run '$0 prepare' here and carry $GPU_DIR" >&2; exit 2; }
    if ! "$py" -c 'import av, isal, diffusers' 2>/dev/null; then  # the device's python lacks them
        local site=/tmp/depthshot_site
        mkdir -p "$site" && tar -xJf "$GPU_DIR/site.tar.xz" -C "$site" || exit 1
        export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
    fi
    export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 DEPTHSHOT_FIXTURES="$PWD/$GPU_DIR/shared/fixtures/vda"
    [[ -e ../shared ]] || ln -s "$PWD/$GPU_DIR/shared" ../shared  # the tests read ../shared beside the checkout
    {
        date -u; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1
        "$py" - <<'EOF'
import importlib.metadata as md, platform, torch
print("python", platform.python_version(), "torch", torch.__version__, "cuda", torch.version.cuda,
      "available", torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else "")
for name in ("numpy", "av", "isal", "diffusers", "transformers", "opencv-python-headless", "triton", "pytest"):
    try:
        print(name, md.version(name))
    except md.PackageNotFoundError:
        print(name, "MISSING")
EOF
    } > "$out/env.txt" 2>&1
    cat "$out/env.txt"

    timeout -k 10 120 "$py" -m pytest -m cuda -q -rs -p no:cacheprovider \
        tests/models/test_vda_forward.py tests/stereo/test_warp.py tests/depth/test_engine_cuda.py \
        2>&1 | tee "$out/pytest_cuda.log"
    local tests=${PIPESTATUS[0]}

    local left=$((total - (SECONDS - start)))
    local budget=$((left > 200 ? left - 100 : left / 2))
    # shellcheck disable=SC2086
    timeout -k 15 "$left" "$py" -m core.bench gpu --out "$out/report.json" --budget-s "$budget" ${GPU_BENCH_ARGS:-} \
        2>&1 | tee "$out/bench.log"
    local bench=${PIPESTATUS[0]}
    echo "gpu_check: pytest -m cuda exit $tests, bench exit $bench ($((SECONDS - start)) s)"
    [[ $bench -ne 0 ]] && exit "$bench"
    exit "$tests"
}

case "${1:-}" in
    prepare) prepare ;;
    run) run ;;
    *) echo "usage: $0 prepare|run" >&2; exit 2 ;;
esac
