"""Typed recipes: YAML into dataclasses, dotted overrides, validation that names the key.

A recipe is the whole description of a pretraining run. Every hyperparameter a paper reports is a value here
(the recipes in ``recipes/`` comment each with its source), so nothing in the code hard-codes a learning rate.

>>> recipe = load_recipe("recipes/clmr_tiny.yaml", ["trainer.max_steps=20", "data.root=/data/mtat"])  # doctest: +SKIP
>>> recipe.optim.lr                                                                                  # doctest: +SKIP
0.0003

Validation is hand-written (about 60 lines) rather than a config library, so that an error always names the
full dotted key, e.g. ``trainer.max_step: unknown key (did you mean 'max_steps'?)``.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class RecipeError(ValueError):
    """A recipe or an override is invalid; the message names the key."""


@dataclass
class DataConfig:
    dataset: str = "folder"  # folder | csv | magnatagatune | speech_commands | esc50 | gtzan | nsynth | cache
    root: str | None = None  # the data set's root folder (or the cache folder for dataset=cache)
    sample_rate: int = 22050
    clip_seconds: float = 6.0  # long crop decoded by a worker; the views are cut from it on the device
    batch_size: int = 48  # per device
    num_workers: int = 2
    label_fraction: float = 0.0  # fraction of clips whose labels the supervised head sees (CLAR); 0 = none
    options: dict = field(default_factory=dict)  # extra arguments of the data-set listing (e.g. split)
    # With root null and dataset folder: pretrain on audiocl's synthetic timbre corpus (audiocl.synth), this many
    # clips per class, generated once under <output_dir>/synthetic_corpus. 0: root is required.
    synthetic_clips_per_class: int = 0


@dataclass
class ViewsConfig:
    num_views: int = 2
    crop_samples: int = 59049
    # Where the views come from. "window": cut on the device from one long crop of data.clip_seconds per clip.
    # "file": each view an independent crop anywhere in the whole file, read by the worker (CLMR's
    # RandomResizedCrop on the whole track; a slice of the cache, or a partial decode); clip_seconds is unused.
    span: str = "window"
    allow_overlap: bool = True  # False: COLA-style disjoint segments (span "window" only)
    min_rms_db: float | None = None  # redraw near-silent crops below this level (span "window" only)
    # Which branch embeds which view. "all": every branch embeds every view. "split": view i goes to branch
    # i % branches (multi-format: the waveform of one crop against the spectrogram of another).
    to_branches: str = "all"
    normalize_clip: bool = False  # L2-normalise each clip (the long crop) before the views are cut (COLA)
    positive_noise_std: float = 0.0  # Gaussian noise of this std on every view but the first (COLA's --noise)


@dataclass
class AugmentConfig:
    """A preset of :mod:`audiocl.augment.presets`, or (when ``transforms`` is set) a chain of its transforms:
    ``transforms: [{name: Gain, min_gain_db: -12, max_gain_db: 0, p: 0.5}, {name: PitchShift, ...}]``."""

    preset: str = "none"  # name in audiocl.augment.presets
    options: dict = field(default_factory=dict)  # keyword arguments of the preset
    transforms: list[dict] = field(default_factory=list)  # a custom chain; replaces the preset when given


@dataclass
class HeadConfig:
    hidden_dims: list[int] = field(default_factory=lambda: [512])
    out_dim: int = 128
    norm: str = "batch"
    activation: str = "relu"
    final_norm: str = "none"
    final_activation: str = "none"
    bias: bool = True  # SimCLR's (and CLMR's) projector has no biases


@dataclass
class BranchConfig:
    """One input format: front-end, encoder and projection head."""

    name: str = "main"
    frontend: str = "waveform"
    frontend_options: dict = field(default_factory=dict)
    encoder: str = "samplecnn"
    encoder_options: dict = field(default_factory=dict)
    head: HeadConfig = field(default_factory=HeadConfig)


@dataclass
class LossConfig:
    # nt_xent | supcon | bilinear | debiased_nt_xent | hard_negative_nt_xent | triplet | margin_contrastive
    name: str = "nt_xent"
    temperature: float | None = None  # None: the loss's default (bilinear has none)
    options: dict = field(default_factory=dict)
    # A memory queue of this many keys from earlier steps as extra negatives (audiocl.losses.queue); 0 = off.
    # Any size: writes wrap around, so it holds the latest queue_size keys (one per clip, the last view's).
    queue_size: int = 0
    queue_warmup: str = "partial"  # while filling: "partial" uses the keys so far, "full" none until full


@dataclass
class MomentumEncoderConfig:
    """Keys from an EMA copy of the branches (encoders and heads), MoCo v2 style (audiocl.momentum)."""

    momentum: float | None = None  # EMA decay m in [0, 1), e.g. 0.99 (MoCo: 0.999); None = off
    schedule: str = "constant"  # constant | cosine-to-1 (BYOL: m rises to 1 along a cosine over max_steps)


@dataclass
class MethodConfig:
    momentum_encoder: MomentumEncoderConfig = field(default_factory=MomentumEncoderConfig)


@dataclass
class SupervisedConfig:
    """CLAR's semi-supervised mode: a classifier on the embedding, trained on the labelled clips."""

    num_classes: int = 0  # 0 disables the classifier
    weight: float = 1.0  # weight of the cross-entropy next to the contrastive loss
    input: str = "projection"  # what the classifier reads: "projection" (z, as CLAR) or "embedding" (h)
    # Before the classifier's linear layer (CLAR's class_out: BatchNorm1d, ReLU, Linear without bias).
    norm: str = "none"  # batch | layer | none
    activation: str = "none"  # relu | gelu | silu | tanh | none
    bias: bool = True


@dataclass
class OptimConfig:
    name: str = "adam"  # adam | adamw | sgd | lars | lars_adam (CLAR's LARS-wrapped Adam)
    lr: float = 3e-4
    weight_decay: float = 0.0
    momentum: float = 0.9  # sgd and lars
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    lars_trust: float = 0.001  # LARS trust coefficient (You et al. 2017); lars_adam's eta (CLAR: 0.02)
    warmup_steps: int = 0
    schedule: str = "cosine"  # cosine | constant (after warm-up)
    min_lr_ratio: float = 0.0  # cosine decays to lr * min_lr_ratio
    lr_scaling: str = "none"  # none | linear | sqrt: lr * (global_batch / base_batch_size)^(1 | 1/2)
    base_batch_size: int = 256


@dataclass
class TrainerConfig:
    max_steps: int = 1000
    accelerator: str = "auto"
    devices: Any = "auto"  # int, list of ids or "auto"
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "32-true"  # 32-true | bf16-mixed | 16-mixed
    sync_batchnorm: bool = False
    log_every_n_steps: int = 10
    checkpoint_every_n_steps: int = 1000  # a kept checkpoint every N steps, besides last.ckpt
    last_every_n_steps: int = 50  # how often last.ckpt (the resume point) is rewritten
    gradient_clip_val: float | None = None
    chunk_size: int | None = None  # GradCache: embed in chunks of this many rows (views x clips); None = off
    channels_last: bool = False
    compile: bool = False
    progress_bar: bool = True


@dataclass
class KnnConfig:
    """Online kNN accuracy during pretraining (solo-learn's convention): a small labelled set embedded every N
    steps, its training split (or its first folds) the bank, its valid (else test, else last-fold) clips the
    queries; ROC-AUC for a multi-label set. Monitoring only: the number is not the probe's result."""

    # A loader of audiocl.data (speech_commands, esc50, csv, ...). None: off, except when pretraining on the
    # synthetic corpus (data.root null), whose labels.csv is then used.
    dataset: str | None = None
    root: str | None = None
    options: dict = field(default_factory=dict)  # loader options, e.g. {convention: "12"}
    every_n_steps: int = 100  # 0: off
    k: int = 20  # neighbours (solo-learn's default)
    temperature: float = 0.07  # votes weighted by exp(cosine / temperature), as solo-learn's WeightedKNNClassifier
    max_items: int = 400  # at most this many bank and query clips each (a seeded subsample): keeps it cheap


@dataclass
class MonitorConfig:
    """Collapse monitors on the training step's own embeddings (audiocl.monitors.CollapseMonitor)."""

    every_n_steps: int = 10  # 0: off
    # A collapse warning (once, with the step) when the encoder embedding's effective rank (RankMe) or its
    # per-dimension std of the normalised embedding, in units of 1/sqrt(dim) (SimSiam), falls below these.
    min_rank: float = 2.0
    min_std_ratio: float = 0.1
    report: bool = True  # write training_report.md + training_curves.png into the run folder at the end


@dataclass
class EvalConfig:
    knn: KnnConfig = field(default_factory=KnnConfig)
    monitors: MonitorConfig = field(default_factory=MonitorConfig)


@dataclass
class Recipe:
    name: str = "recipe"
    seed: int = 0
    output_dir: str = "runs/recipe"
    data: DataConfig = field(default_factory=DataConfig)
    views: ViewsConfig = field(default_factory=ViewsConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    branches: list[BranchConfig] = field(default_factory=lambda: [BranchConfig()])
    loss: LossConfig = field(default_factory=LossConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    supervised: SupervisedConfig = field(default_factory=SupervisedConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)  # monitors during pretraining (audiocl.monitors)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Recipe:
        recipe = _build(cls, data, "")
        _check_semantics(recipe)
        return recipe


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> Recipe:
    """Read a YAML recipe (``yaml.safe_load``), apply ``key.sub=value`` overrides, validate."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"recipe not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise RecipeError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe is a mapping of keys, got {type(data).__name__}")
    data = _merge(Recipe().to_dict(), data)  # so that overrides can reach into default sections and lists
    apply_overrides(data, overrides or [])
    try:
        return Recipe.from_dict(data)
    except RecipeError as err:
        raise RecipeError(f"{path}: {err}") from None


def save_recipe(recipe: Recipe, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(recipe.to_dict(), sort_keys=False))


def apply_overrides(data: dict, overrides: list[str]) -> None:
    """Set ``a.b.c=value`` in the nested dict ``data``; values are parsed as YAML (``true``, ``3``, ``[1, 2]``).

    List items are addressed by index: ``branches.0.encoder=resnet18``.
    """
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise RecipeError(f"override {item!r} is not of the form key.sub=value")
        value = yaml.safe_load(raw) if raw.strip() else None
        node: Any = data
        parts = key.split(".")
        for depth, part in enumerate(parts[:-1]):
            where = ".".join(parts[: depth + 1])
            if isinstance(node, list):
                node = node[_index(part, node, where)]
            else:
                node = node.setdefault(part, {})
            if not isinstance(node, dict | list):
                raise RecipeError(f"override {item!r}: {where} is a value, not a section")
        last = parts[-1]
        if isinstance(node, list):
            node[_index(last, node, key)] = value
        else:
            node[last] = value


def _merge(base: dict, update: dict) -> dict:
    """``update`` over ``base``: mappings merge key by key, anything else (lists included) replaces."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _index(part: str, items: list, where: str) -> int:
    if not part.isdigit() or int(part) >= len(items):
        raise RecipeError(f"{where}: list index must be 0..{len(items) - 1}")
    return int(part)


def _build(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise RecipeError(f"{prefix or 'recipe'}: expected a section (mapping), got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        where = f"{prefix}{key}"
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(names)})"
            raise RecipeError(f"{where}: unknown key{hint}")
        kwargs[key] = _coerce(hints[key], value, where)
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in (o for o in options if o is not type(None)):
            try:
                return _coerce(option, value, where)
            except RecipeError as err:
                errors.append(str(err))
        raise RecipeError(errors[0])
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, f"{where}.")
    if origin is list:
        if not isinstance(value, list):
            raise RecipeError(f"{where}: expected a list, got {value!r}")
        (item,) = typing.get_args(hint)
        return [_coerce(item, v, f"{where}.{i}") for i, v in enumerate(value)]
    if hint is dict or origin is dict:
        if not isinstance(value, dict):
            raise RecipeError(f"{where}: expected a mapping, got {value!r}")
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        # PyYAML reads 3e-4 (no dot) as a string; accept any number spelling.
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif hint is str:
        if isinstance(value, str):
            return value
    else:
        raise TypeError(f"unsupported recipe type {hint} at {where}")
    raise RecipeError(f"{where}: expected {hint.__name__}, got {value!r}")


def _check_semantics(recipe: Recipe) -> None:
    """Checks across keys, run before anything is built."""

    def need(ok: bool, where: str, message: str) -> None:
        if not ok:
            raise RecipeError(f"{where}: {message}")

    _check_numbers(recipe)
    need(recipe.data.batch_size >= 2, "data.batch_size", "contrastive learning needs at least 2 clips")
    need(recipe.views.num_views >= 2, "views.num_views", "needs at least 2 views")
    need(recipe.views.span in {"window", "file"}, "views.span", "one of window, file")
    need(recipe.views.to_branches in {"all", "split"}, "views.to_branches", "one of all, split")
    if recipe.views.span == "file":
        need(recipe.views.allow_overlap, "views.allow_overlap", "disjoint views need views.span=window")
        need(recipe.views.min_rms_db is None, "views.min_rms_db", "silence rejection needs views.span=window")
    need(
        not (recipe.views.normalize_clip and recipe.views.span == "file"),
        "views.normalize_clip",
        "normalises the long crop the views are cut from: it needs views.span=window",
    )
    if recipe.views.to_branches == "split":
        need(recipe.trainer.chunk_size is None, "trainer.chunk_size", "GradCache needs views.to_branches=all")
        need(recipe.supervised.num_classes == 0, "supervised.num_classes", "the classifier needs views.to_branches=all")
        need(
            recipe.views.num_views % len(recipe.branches) == 0,
            "views.num_views",
            f"views.to_branches=split needs a multiple of the {len(recipe.branches)} branches",
        )
    need(
        recipe.views.span == "file" or recipe.views.crop_samples <= recipe.data.clip_seconds * recipe.data.sample_rate,
        "views.crop_samples",
        f"{recipe.views.crop_samples} samples do not fit in data.clip_seconds={recipe.data.clip_seconds} "
        f"at {recipe.data.sample_rate} Hz; raise data.clip_seconds",
    )
    need(len(recipe.branches) >= 1, "branches", "needs at least one branch")
    names = [b.name for b in recipe.branches]
    need(len(set(names)) == len(names), "branches", f"branch names must be unique, got {names}")
    out_dims = {b.head.out_dim for b in recipe.branches}
    need(len(out_dims) == 1, "branches", "all branches must project to the same head.out_dim")
    need(recipe.loss.temperature is None or recipe.loss.temperature > 0, "loss.temperature", "must be positive")
    need(recipe.supervised.input in {"projection", "embedding"}, "supervised.input", "projection or embedding")
    from audiocl.models.heads import ACTIVATIONS, NORMS  # the registry the heads are built from
    from audiocl.validation import choice

    _valid(choice, "supervised.norm", recipe.supervised.norm, choices=NORMS)
    _valid(choice, "supervised.activation", recipe.supervised.activation, choices=ACTIVATIONS)
    need(
        recipe.supervised.num_classes == 0 or recipe.data.label_fraction > 0,
        "data.label_fraction",
        "the supervised head needs labelled clips: set data.label_fraction > 0 (e.g. 0.1)",
    )
    need(
        recipe.optim.name in {"adam", "adamw", "sgd", "lars", "lars_adam"},
        "optim.name",
        "one of adam, adamw, sgd, lars, lars_adam",
    )
    need(recipe.optim.schedule in {"cosine", "constant"}, "optim.schedule", "one of cosine, constant")
    need(recipe.optim.lr_scaling in {"none", "linear", "sqrt"}, "optim.lr_scaling", "one of none, linear, sqrt")
    _check_trainer_choices(recipe.trainer, need)
    _check_eval(recipe.eval, need)
    _check_negatives(recipe)


def _check_eval(e: EvalConfig, need) -> None:
    need(e.knn.every_n_steps >= 0, "eval.knn.every_n_steps", "must be >= 0 (0: off)")
    need(e.knn.k >= 1, "eval.knn.k", "must be >= 1")
    need(e.knn.temperature > 0, "eval.knn.temperature", "must be positive")
    need(e.knn.max_items >= 2, "eval.knn.max_items", "must be >= 2")
    need(e.knn.dataset is None or e.knn.root is not None, "eval.knn.root", "the kNN data set needs its root folder")
    need(e.monitors.every_n_steps >= 0, "eval.monitors.every_n_steps", "must be >= 0 (0: off)")
    need(e.monitors.min_rank >= 0, "eval.monitors.min_rank", "must be >= 0")
    need(e.monitors.min_std_ratio >= 0, "eval.monitors.min_std_ratio", "must be >= 0")


def _check_negatives(recipe: Recipe) -> None:
    """The memory queue and the momentum encoder: sizes, choices, and a loss that can use them."""
    from audiocl.losses import KEY_LOSSES, QUEUE_LOSSES
    from audiocl.losses.queue import WARMUPS
    from audiocl.momentum import SCHEDULES
    from audiocl.validation import choice, finite_number, non_negative_int

    loss, m = recipe.loss, recipe.method.momentum_encoder
    if _valid(non_negative_int, "loss.queue_size", loss.queue_size) and loss.name not in QUEUE_LOSSES:
        raise RecipeError(f"loss.queue_size: loss {loss.name!r} takes no queue; use one of {sorted(QUEUE_LOSSES)}")
    _valid(choice, "loss.queue_warmup", loss.queue_warmup, choices=WARMUPS)
    _valid(choice, "method.momentum_encoder.schedule", m.schedule, choices=SCHEDULES)
    if m.momentum is not None:
        _valid(finite_number, "method.momentum_encoder.momentum", m.momentum, minimum=0, maximum=1)
        if m.momentum == 1:
            raise RecipeError("method.momentum_encoder.momentum: must be < 1 (1 never updates the keys' encoder)")
        if loss.name not in KEY_LOSSES:
            raise RecipeError(
                f"method.momentum_encoder: loss {loss.name!r} takes no momentum keys; use one of {sorted(KEY_LOSSES)}"
            )


def _valid(check, where: str, value, **kwargs):
    """An :mod:`audiocl.validation` check whose error names the recipe key: ``optim.lr: must be ...``."""
    try:
        return check(where, value, **kwargs)
    except ValueError as err:
        raise RecipeError(f"{where}: {str(err).removeprefix(where).lstrip()}") from None


def _check_numbers(recipe: Recipe) -> None:
    """Sizes, rates and rates of learning: finite and in range (``inf`` parses as a float, ``-1`` as an int)."""
    from audiocl.data.files import PRETRAIN_DATASETS
    from audiocl.validation import choice, finite_number, non_negative_int, positive_int, probability

    d, v, o, t = recipe.data, recipe.views, recipe.optim, recipe.trainer
    _valid(choice, "data.dataset", d.dataset, choices=PRETRAIN_DATASETS)
    positive = {
        "data.sample_rate": d.sample_rate,
        "views.crop_samples": v.crop_samples,
        "trainer.max_steps": t.max_steps,
        "trainer.log_every_n_steps": t.log_every_n_steps,
        "trainer.checkpoint_every_n_steps": t.checkpoint_every_n_steps,
        "trainer.last_every_n_steps": t.last_every_n_steps,
        "optim.base_batch_size": o.base_batch_size,
    }
    for where, value in positive.items():
        _valid(positive_int, where, value)
    _valid(positive_int, "trainer.chunk_size", t.chunk_size, allow_none=True)
    counts = {
        "data.num_workers": d.num_workers,
        "data.synthetic_clips_per_class": d.synthetic_clips_per_class,
        "optim.warmup_steps": o.warmup_steps,
        "supervised.num_classes": recipe.supervised.num_classes,
    }
    for where, value in counts.items():
        _valid(non_negative_int, where, value)
    _valid(finite_number, "data.clip_seconds", d.clip_seconds, minimum=0, exclusive=True)
    _valid(finite_number, "optim.lr", o.lr, minimum=0, exclusive=True)
    non_negative = {
        "optim.weight_decay": o.weight_decay,
        "optim.momentum": o.momentum,
        "optim.lars_trust": o.lars_trust,
        "views.positive_noise_std": v.positive_noise_std,
        "supervised.weight": recipe.supervised.weight,
    }
    for where, value in non_negative.items():
        _valid(finite_number, where, value, minimum=0)
    for where, value in {"data.label_fraction": d.label_fraction, "optim.min_lr_ratio": o.min_lr_ratio}.items():
        _valid(probability, where, value)
    for i, beta in enumerate(o.betas):
        _valid(finite_number, f"optim.betas.{i}", beta, minimum=0, maximum=1)
    if t.gradient_clip_val is not None:
        _valid(finite_number, "trainer.gradient_clip_val", t.gradient_clip_val, minimum=0, exclusive=True)
    if v.min_rms_db is not None:
        _valid(finite_number, "views.min_rms_db", v.min_rms_db)
    if recipe.loss.temperature is not None:
        _valid(finite_number, "loss.temperature", recipe.loss.temperature)


# Lightning's precision names (lightning.fabric.connector._PRECISION_INPUT) and their short aliases.
PRECISIONS = ("32-true", "bf16-mixed", "16-mixed", "bf16-true", "16-true", "64-true", "32", "bf16", "16", "64")
PRECISIONS += ("transformer-engine", "transformer-engine-float16")


def _check_trainer_choices(t: TrainerConfig, need) -> None:
    """The Lightning Trainer's choices, checked here so that a typo names its key instead of ending in a
    Lightning traceback."""
    from lightning.pytorch.accelerators import AcceleratorRegistry
    from lightning.pytorch.strategies import StrategyRegistry

    need(str(t.precision) in PRECISIONS, "trainer.precision", f"{t.precision!r} is not one of {list(PRECISIONS)}")
    accelerators = ["auto", "gpu", *sorted(AcceleratorRegistry.available_accelerators())]
    need(t.accelerator in accelerators, "trainer.accelerator", f"{t.accelerator!r} is not one of {accelerators}")
    strategies = ["auto", *StrategyRegistry.available_strategies()]
    need(
        t.strategy in strategies,
        "trainer.strategy",
        f"{t.strategy!r} is not a strategy Lightning knows (e.g. auto, ddp, ddp_spawn, fsdp, deepspeed)",
    )
    devices = t.devices
    ok = (
        devices == "auto"
        or (isinstance(devices, int) and not isinstance(devices, bool) and (devices >= 1 or devices == -1))
        or (isinstance(devices, list) and devices and all(isinstance(d, int) and d >= 0 for d in devices))
        or (isinstance(devices, str) and all(part.strip().lstrip("-").isdigit() for part in devices.split(",")))
    )
    need(ok, "trainer.devices", f"{devices!r} is not a device count (>= 1, or -1 for all), a list of ids or 'auto'")
    need(t.num_nodes >= 1, "trainer.num_nodes", "must be >= 1")
