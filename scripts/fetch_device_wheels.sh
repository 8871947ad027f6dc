#!/usr/bin/env bash
# Download, here (where PyPI is reachable), the wheels scripts/device_check.sh installs on a GPU machine that
# has no package index: what audiocl and its benchmark peers need beyond the torch, torchaudio, lightning, timm,
# scikit-learn, numpy, scipy, numba and matplotlib such a machine has. Into .whl/ (git-ignored), one version
# of each, for CPython $PYTHON_VERSION (default 3.12) on manylinux x86-64. The versions are the ones the
# project's tests ran with.
set -eu
cd "$(dirname "$0")/.."
PYTHON_VERSION=${PYTHON_VERSION:-3.12}
WHEELS=(
    soundfile==0.14.0 cffi==2.0.0 pycparser==3.0                       # audio I/O (libsndfile in the wheel)
    librosa==0.11.0 audioread==3.1.0 pooch==1.9.0 platformdirs==4.14.9 # librosa and its small deps
    decorator==5.2.1 soxr==0.5.0.post1
    audiomentations==0.43.1 numpy-minmax==0.6.0 numpy-rms==0.7.0 python-stretch==0.3.1
    torch-audiomentations==0.12.0 julius==0.2.8 torch-pitch-shift==1.2.5 primePy==1.3
    lightly==1.6.0                                                     # lightly.loss needs no more here
    pytorch-metric-learning==2.9.0
)
rm -rf .whl && mkdir .whl
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version "$PYTHON_VERSION" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux_2_5_x86_64 --platform manylinux1_x86_64 \
    -d .whl "${WHEELS[@]}"
ls .whl && du -sh .whl
