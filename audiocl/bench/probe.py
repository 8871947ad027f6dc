"""``audiocl bench probe``: the probe heads (linear, kNN, MLP) on cached embeddings of a 5,000-clip task, each
:func:`audiocl.probe.run_probe` call timed whole, next to scikit-learn's classifier of the same kind, in one run.

The task is synthetic and built in memory: ``--clips`` items of ``--classes`` classes (a stratified 80/10/10
train/valid/test split, as audiocl draws for a data set without one), each with ``--chunks`` chunk embeddings
of ``--dim`` values. A clip is its class mean plus unit Gaussian noise, and each chunk adds unit noise of its
own. The class means are Gaussian with variance ``32 / dim`` per value, so their norm (about 5.7) does not
depend on ``--dim``. These are a :class:`audiocl.data.task.Task` and :class:`audiocl.probe.TaskEmbeddings`,
the same objects ``audiocl probe`` has after reading its embedding cache. So the timed path is exactly what
it runs on a cache hit: no audio is decoded and there is no encoder.

Each audiocl row is one whole ``run_probe`` call with its defaults: the validation-based choices (linear: 3
weight decays, each trained with early stopping; MLP: 2 learning rates; kNN: none), the test predictions and
the 1000-resample bootstrap interval, once per seed (``--seeds N``: seeds 0..N-1). The ``CI`` column is the
bootstrap alone, timed again on the same predictions. Each scikit-learn row is one fit on the pooled (mean
over chunks) training embeddings and one prediction on the pooled test embeddings, with default
hyper-parameters: no choice on valid, one seed and no interval. scikit-learn's rows therefore do less work,
and the ``fits`` column counts the models each row trains. The peers:

- linear: ``StandardScaler`` + ``LogisticRegression`` (lbfgs, ``max_iter=1000``). audiocl's linear head sees
  every chunk and averages the probabilities per clip (its default aggregation), so it has ``--chunks``
  times as many training rows.
- kNN: ``KNeighborsClassifier(n_neighbors=20, metric="cosine", weights="distance", n_jobs=-1)``, votes
  weighted by 1 / distance. audiocl weights them by ``exp(cosine / 0.07)`` (DINO, solo-learn), which
  scikit-learn does not offer.
- MLP: ``StandardScaler`` + ``MLPClassifier(hidden_layer_sizes=(1024,), early_stopping=True)``. It trains
  with Adam at lr 1e-3, batches of 200 and early stopping on a tenth of the training rows that it carves
  itself. audiocl has the same hidden layer and dropout 0.1, takes batches of 1024, picks its learning
  rate on valid, and stops early on the valid score as hear-eval-kit does
  (:mod:`audiocl.eval.probes.mlp`).

The timing is :func:`audiocl.bench._timing.best_times`, the best of ``--repeats`` calls, after one warm-up
call of every implementation on a task of 10 clips per class (a warm-up at full size would double the run).
"""

from __future__ import annotations

import argparse
import importlib
import time
from dataclasses import replace
from pathlib import Path

from audiocl.bench._peers import missing_line
from audiocl.bench._timing import best_times, device_sync

SUMMARY = (
    "probe heads (linear, kNN, MLP) on cached embeddings of a synthetic 5,000-clip task: each run_probe call "
    "timed whole vs scikit-learn's LogisticRegression, KNeighborsClassifier, MLPClassifier"
)

HEAD_NAMES = ("linear", "knn", "mlp")
PEER_LABELS = {
    "linear": "sklearn LogisticRegression",
    "knn": "sklearn KNeighborsClassifier",
    "mlp": "sklearn MLPClassifier",
}
SKLEARN_MODULES = ("linear_model", "neighbors", "neural_network", "pipeline", "preprocessing")
MEAN_NORM_SQ = 32.0  # squared norm of a class mean, spread over the dimensions: variance 32 / dim per value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clips", type=int, default=5000, help="clips in the task (default 5000)")
    parser.add_argument("--dim", type=int, default=512, help="embedding size (default 512)")
    parser.add_argument("--chunks", type=int, default=4, help="chunk embeddings per clip (default 4)")
    parser.add_argument("--classes", type=int, default=50, help="classes (default 50)")
    parser.add_argument("--seeds", type=int, default=1, help="audiocl's probe seeds: 0..N-1 (default 1)")
    parser.add_argument("--device", default="cpu", help="device of audiocl's heads (default cpu; e.g. cuda)")
    parser.add_argument(
        "--heads", nargs="+", choices=HEAD_NAMES, default=list(HEAD_NAMES), help="heads (default linear knn mlp)"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch and BLAS CPU threads (default: their choice, one per core)"
    )
    parser.add_argument(
        "--repeats", type=int, default=1, help="timed calls after a warm-up; the best counts (default 1)"
    )
    parser.add_argument(
        "--n-boot", type=int, default=1000, help="bootstrap resamples of audiocl's interval (default 1000)"
    )


def synthetic_embeddings(clips: int, dim: int, chunks: int, classes: int, seed: int = 0):
    """A single-label task of ``clips`` items with their per-chunk embeddings (the module docstring).

    Returns:
        a :class:`audiocl.probe.TaskEmbeddings`, its ``task`` a :class:`audiocl.data.task.Task` with a
        stratified 80/10/10 train/valid/test split; ``chunks[i]`` is ``(chunks, dim)`` float32.
    """
    import numpy as np

    from audiocl.data.task import Item, Task, drawn_split_words, stratified_splits
    from audiocl.probe import TaskEmbeddings

    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(clips) % classes)  # (clips,): every class equally often
    means = rng.standard_normal((classes, dim)) * np.sqrt(MEAN_NORM_SQ / dim)  # (classes, dim)
    clip = means[labels] + rng.standard_normal((clips, dim))  # (clips, dim)
    chunk = (clip[:, None] + rng.standard_normal((clips, chunks, dim))).astype(np.float32)  # (clips, chunks, dim)
    splits = stratified_splits(labels.tolist(), seed=seed)
    items = [
        Item(Path(f"synthetic/{i:05d}.wav"), int(y), split=s)
        for i, (y, s) in enumerate(zip(labels, splits, strict=True))
    ]
    task = Task(
        "synthetic", items, [f"class {c}" for c in range(classes)], multilabel=False,
        drawn_split=drawn_split_words("stratified", (0.8, 0.1, 0.1), seed),
    )  # fmt: skip
    return TaskEmbeddings(task, list(chunk), embedder=f"synthetic {dim}-d", chunk_s=1.0, hop_s=1.0)


def _peers(sklearn_modules, seed: int) -> dict:
    """Head -> an unfitted scikit-learn estimator (the module docstring)."""
    linear_model, neighbors, neural_network, pipeline, preprocessing = sklearn_modules
    scaled = pipeline.make_pipeline
    return {
        "linear": scaled(preprocessing.StandardScaler(), linear_model.LogisticRegression(max_iter=1000)),
        "knn": neighbors.KNeighborsClassifier(n_neighbors=20, metric="cosine", weights="distance", n_jobs=-1),
        "mlp": scaled(
            preprocessing.StandardScaler(),
            neural_network.MLPClassifier(hidden_layer_sizes=(1024,), early_stopping=True, random_state=seed),
        ),
    }


def _sklearn() -> list | None:
    """scikit-learn's modules that :func:`_peers` takes, or None after printing which package to install."""
    try:
        return [importlib.import_module(f"sklearn.{m}") for m in SKLEARN_MODULES]
    except ImportError:
        print(missing_line("scikit-learn"))
        return None


def _impls(emb, heads, seeds, opts, n_boot, sklearn, results) -> dict:
    """``(head, "ours" | "peer") -> fn``: each fn fits and predicts once on ``emb``, its result in ``results``;
    no peer when ``sklearn`` is None."""
    import numpy as np

    from audiocl.probe import run_probe

    task, y = emb.task, emb.task.targets()
    split = {s: np.array([i for i, it in enumerate(task.items) if it.split == s]) for s in ("train", "test")}
    pooled = {s: emb.pooled(idx) for s, idx in split.items()}  # (items, dim): what a scikit-learn user fits
    peers = _peers(sklearn, seed=0) if sklearn else {}
    impls = {}
    for head in heads:

        def ours(head=head):
            results[head, "ours"] = run_probe(
                task, embeddings=emb, seeds=seeds, options=opts, head=head, progress=False, n_boot=n_boot
            )

        impls[head, "ours"] = ours
        if head in peers:

            def peer(head=head):
                model = peers[head].fit(pooled["train"], y[split["train"]])
                results[head, "peer"] = float((model.predict(pooled["test"]) == y[split["test"]]).mean())

            impls[head, "peer"] = peer
    return impls


def measure(args: argparse.Namespace) -> list[dict]:
    """One row per implementation, ours before the peer, per head: ``{"head", "implementation", "seconds",
    "ci_seconds", "fits", "accuracy", "ci95", "settings"}`` (``ci_seconds``, ``ci95`` None for a peer).

    Every implementation is warmed up once on a task of 10 clips per class (imports, kernels, allocator; two epochs), so
    that the timed calls, which take seconds at the defaults, need not run twice."""
    import torch

    from audiocl.eval.stats import bootstrap_ci
    from audiocl.probe import ProbeOptions

    seeds = list(range(args.seeds))
    opts = ProbeOptions(device=args.device)
    fits = {"linear": len(opts.weight_decays), "knn": 0, "mlp": len(opts.mlp.lrs)}
    small = synthetic_embeddings(10 * args.classes, args.dim, args.chunks, args.classes)
    brief = replace(opts, max_epochs=2, mlp=replace(opts.mlp, max_epochs=2))  # a warm-up, not a fit
    sklearn = _sklearn()
    for fn in _impls(small, args.heads, seeds[:1], brief, args.n_boot, sklearn, {}).values():
        fn()
    results = {}
    full = synthetic_embeddings(args.clips, args.dim, args.chunks, args.classes)
    impls = _impls(full, args.heads, seeds, opts, args.n_boot, sklearn, results)
    times = best_times(impls, args.repeats, device_sync(torch.device(args.device)), warm_up=False)
    rows = []
    for head, side in impls:
        if side == "ours":
            r = results[head, "ours"]
            ci_seconds = None
            if args.n_boot:
                start = time.perf_counter()
                bootstrap_ci(r.predictions, "accuracy", n_boot=args.n_boot)
                ci_seconds = time.perf_counter() - start
            acc = r.metrics["accuracy"]
            settings = "; ".join(dict.fromkeys(run["settings"] for run in r.runs))
            rows.append(dict(head=head, implementation=f"audiocl {head}", seconds=times[head, side],
                             ci_seconds=ci_seconds, fits=fits[head] * len(seeds), accuracy=acc["mean"],
                             ci95=acc.get("ci95"), settings=settings))  # fmt: skip
        else:
            rows.append(dict(head=head, implementation=PEER_LABELS[head], seconds=times[head, side], ci_seconds=None,
                             fits=0 if head == "knn" else 1, accuracy=results[head, side], ci95=None,
                             settings="scikit-learn defaults, pooled rows"))  # fmt: skip
    return rows


def run(args: argparse.Namespace) -> int:
    import torch

    if min(args.clips, args.dim, args.chunks, args.seeds, args.repeats) < 1 or args.classes < 2 or args.n_boot < 0:
        raise SystemExit("--clips, --dim, --chunks, --seeds and --repeats must be >= 1, --classes >= 2, --n-boot >= 0")
    if args.clips < 10 * args.classes:
        raise SystemExit("--clips must be at least 10 per class, so that every class has valid and test clips")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"--device {args.device}: no CUDA device here")
    if args.threads is not None:
        # On a loaded machine, OpenMP threads that wait for each other cost more than they give.
        torch.set_num_threads(args.threads)
    from threadpoolctl import threadpool_limits  # a dependency of scikit-learn: its BLAS threads

    with threadpool_limits(limits=args.threads):
        rows = measure(args)
    import sklearn

    print(
        f"probe heads on cached embeddings: synthetic task of {args.clips} clips x {args.chunks} chunks, "
        f"{args.dim}-d, {args.classes} classes (chance {100 / args.classes:.1f}%), split 80/10/10; audiocl on "
        f"{args.device}, {args.seeds} seed(s), {args.n_boot}-resample bootstrap; scikit-learn {sklearn.__version__} "
        f"on cpu; best of {args.repeats} after a warm-up on {10 * args.classes} clips, torch {torch.__version__}, "
        f"threads {torch.get_num_threads()}"
    )
    header = (
        f"{'head':<7} {'implementation':<29} {'time (s)':>9} {'CI (s)':>7} {'fits':>5} {'test acc':>9} "
        f"{'95% CI':>13} {'speed-up':>9}"
    )
    print(header)
    print("-" * len(header))
    ours = {r["head"]: r for r in rows if r["implementation"].startswith("audiocl")}
    summary = []
    for r in rows:
        mine = ours[r["head"]]
        is_ours = r is mine
        ratio = "" if is_ours else f"{r['seconds'] / mine['seconds']:.2f}x"
        ci = f"{100 * r['ci95'][0]:.1f}-{100 * r['ci95'][1]:.1f}%" if r["ci95"] else "-"
        ci_s = f"{r['ci_seconds']:.2f}" if r["ci_seconds"] is not None else "-"
        print(
            f"{r['head']:<7} {r['implementation']:<29} {r['seconds']:>9.2f} {ci_s:>7} {r['fits']:>5} "
            f"{100 * r['accuracy']:>8.1f}% {ci:>13} {ratio:>9}"
        )
        if not is_ours:
            summary.append(f"{r['head']} {ratio} ({r['implementation']})")
    settings = "; ".join(f"{head} {r['settings']}" for head, r in ours.items())
    print(f"\naudiocl's settings (linear, MLP: chosen on valid): {settings}")
    print(
        "audiocl's speed-up over scikit-learn, per head: " + ("; ".join(summary) if summary else "no peer ran")
        + ". audiocl's times include its choices on valid ('fits' models per row), every seed and the "
        "bootstrap ('CI'); scikit-learn's are one fit with defaults and one prediction"
    )  # fmt: skip
    return 0
