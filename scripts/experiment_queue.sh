#!/usr/bin/env bash
# Issue 15's question: does B=32 with a 4,096-key memory queue (and a momentum encoder) probe better than B=32
# in-batch, at the same number of steps? clmr_queue_tiny, 300 steps, 3 pretraining seeds each, pretrained on the
# generated ESC-50-layout corpus's folds 1-4 and probed on fold 5 (linear, 3 probe seeds, bootstrap intervals),
# beside random init and MFCC statistics. About 10 CPU minutes on 2 cores.
#
#   bash scripts/experiment_queue.sh [OUT]     # OUT: a folder outside the repository (default /tmp/audiocl-queue)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-/tmp/audiocl-queue}
C=$OUT/corpora
[ -d "$C/esc50" ] || python scripts/make_eval_corpora.py --out "$C" --only sounds --per-class 200 --sounds-seconds 3 --no-progress
for s in 0 1 2; do
  common=(data.dataset=esc50 "data.root=$C/esc50" "data.options.folds=[1,2,3,4]" data.batch_size=32
          data.clip_seconds=3.0 data.num_workers=1 trainer.max_steps=300 trainer.checkpoint_every_n_steps=300
          trainer.last_every_n_steps=100 trainer.progress_bar=false "seed=$s")
  [ -f "$OUT/runs/queue_$s/checkpoints/last.ckpt" ] || python -m audiocl pretrain recipes/clmr_queue_tiny.yaml \
    "${common[@]}" loss.queue_size=4096 "output_dir=$OUT/runs/queue_$s"
  [ -f "$OUT/runs/inbatch_$s/checkpoints/last.ckpt" ] || python -m audiocl pretrain recipes/clmr_queue_tiny.yaml \
    "${common[@]}" loss.queue_size=0 method.momentum_encoder.momentum=null "output_dir=$OUT/runs/inbatch_$s"
done
OUT=$OUT python - <<'PY'
import os

from audiocl import load_encoder
from audiocl.data.task import load_task
from audiocl.embed import mfcc_baseline, random_encoder
from audiocl.eval.compare import compare
from audiocl.report import comparison_markdown, write_comparison

out = os.environ["OUT"]
embedders = {}
for s in (0, 1, 2):
    embedders[f"queue 4096, seed {s}"] = load_encoder(f"{out}/runs/queue_{s}/checkpoints/last.ckpt")
    embedders[f"in-batch, seed {s}"] = load_encoder(f"{out}/runs/inbatch_{s}/checkpoints/last.ckpt")
embedders["random init"] = random_encoder("recipes/clmr_queue_tiny.yaml")
embedders["mfcc"] = mfcc_baseline(16000)
task = load_task("esc50", f"{out}/corpora/esc50")
table = compare({"esc50": task}, embedders, reference="in-batch, seed 0", test_folds=[5], progress=False)
print(comparison_markdown(table))
write_comparison(table, f"{out}/compare", overwrite=True)
PY
