#!/usr/bin/env bash
# The one GPU check (DESIGN.md), at most 8 minutes on an H200: the logic is scripts/device_check.py.
#
#   bash scripts/device_check.sh                      # on a GPU machine: every stage, --device cuda
#   bash scripts/device_check.sh --device cpu --quick # the short mode, on a machine without a GPU
#
# Runs in the machine's own Python (PYTHON, default python3), which must have torch, torchaudio, lightning,
# timm and scikit-learn; whatever else audiocl and its peers need is installed from .whl/ without a package
# index (prepare it with scripts/fetch_device_wheels.sh; nothing is installed without it). audiocl runs from
# this tree on PYTHONPATH. The report goes to $OUT (default ./device_check_out): device_check.json and .md.
set -u
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
OUT=${OUT:-./device_check_out}
mkdir -p "$OUT"
export AUDIOCL_DEVICE_PIP_LOG
AUDIOCL_DEVICE_PIP_LOG=$(mktemp)
SITE=""
if compgen -G ".whl/*.whl" >/dev/null; then
    # The distributions the wheels hold; pip installs those not already there and leaves the rest alone.
    names=$(ls .whl/*.whl | sed -E 's#.*/([^-]+)-.*#\1#' | sort -u)
    if timeout 120 "$PYTHON" -m pip install --no-deps --no-index --find-links .whl $names >"$AUDIOCL_DEVICE_PIP_LOG" 2>&1; then
        AUDIOCL_DEVICE_PIP_RC=0
    else  # a read-only environment: install beside it instead
        SITE=$(mktemp -d)
        echo "--- into the environment failed; installing into $SITE instead" >>"$AUDIOCL_DEVICE_PIP_LOG"
        timeout 120 "$PYTHON" -m pip install --no-deps --no-index --no-compile --target "$SITE" .whl/*.whl \
            >>"$AUDIOCL_DEVICE_PIP_LOG" 2>&1
        AUDIOCL_DEVICE_PIP_RC=$?
    fi
else
    echo "no .whl folder: nothing installed (scripts/fetch_device_wheels.sh prepares one)" >"$AUDIOCL_DEVICE_PIP_LOG"
    AUDIOCL_DEVICE_PIP_RC=none
fi
export AUDIOCL_DEVICE_PIP_RC
export PYTHONPATH="$PWD${SITE:+:$SITE}${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
# 8 minutes in all, the install above included; the Python part keeps to its own budget inside it.
timeout -k 10 470 "$PYTHON" scripts/device_check.py --out "$OUT" "$@"
