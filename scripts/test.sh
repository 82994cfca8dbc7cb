#!/usr/bin/env bash
# The test command (README): installs the Debian packages and the Python packages
# the tests need, then runs every test: the training pipeline's pytest suite and the
# Rust workspace (extra arguments go to `cargo test`).
#
# Packages: headers nice-plug's standalone and editor build against (ALSA, JACK,
# X11/XCB, GL), and the real hosts the plugin is tested in: lilv-utils
# (lv2apply, lv2info, lv2ls), sordi and lv2-dev (TTL validation), PipeWire 0.3
# (a private headless daemon runs the "Faurge Mic" filter-chain), and for the
# editor's screenshot test (tests/editor) a virtual X server with Mesa's software
# GL (xvfb, libgl1-mesa-dri, libglx-mesa0) and a JACK server (jackd2); and what the
# third-party plugin validators that `cargo xtask validate` runs need at run time
# (../shared/validators/README.md): lv2lint liblilv-0-0, libelf1, libx11-6 and the
# LV2 specification bundles (lv2-dev); pluginval libasound2, libfreetype6,
# libfontconfig1, and for its GUI tests xvfb, xauth and the X libraries.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
    pkg-config libasound2-dev libjack-jackd2-dev libx11-xcb-dev libxcb1-dev
    libxcb-icccm4-dev libxcb-dri2-0-dev libgl-dev libxcursor-dev
    lilv-utils lv2-dev sordi pipewire pipewire-bin
    xvfb libgl1-mesa-dri libglx-mesa0 jackd2
    liblilv-0-0 libelf1 libx11-6 libasound2 libfreetype6 libfontconfig1
    xauth libxext6 libxrandr2 libxinerama1 libxcursor1
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "Installing Debian packages the tests need: ${missing[*]}"
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo=sudo; fi
    $sudo apt-get update
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

# The training pipeline's tests (PyTorch mirrors of the DSP vs faurge-dsp, and a
# smoke run: tiny dataset, one epoch, ONNX export, onnxruntime parity), in a venv
# of their own. torch from PyPI brings its CUDA libraries: a large first install
# (5.7 GB installed, 8.7 GB at its peak while the wheels are unpacked), so pip keeps
# no second copy of the wheels in its cache, and this runs before the Rust build:
# on a fresh clone the wheels' peak then does not stack on the ~4 GB of test
# binaries (a CI machine once ran out of disk there).
if [ ! -x training/.venv/bin/python ]; then
    python3 -m venv training/.venv
fi
training/.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-cache-dir -r training/requirements.txt
(cd training && .venv/bin/python -m pytest -q)

cargo test --workspace --locked "$@"
