"""The one training module: clips -> views -> front-end -> encoder -> head -> loss.

CLMR, COLA, CLAR and multi-format are recipes of this module, not copies of a training loop:

- CLMR: one branch (waveform, SampleCNN), the CLMR augmentation chain, NT-Xent.
- COLA: one branch (log-mel, EfficientNet-B0, linear + LayerNorm + tanh head), two segments per clip, bilinear loss.
- CLAR: one branch (3-channel time-frequency stack, ResNet-18), NT-Xent, plus a classifier (on the projection,
  as CLAR, or on the embedding) trained with cross-entropy on the labelled clips of each batch
  (``supervised.num_classes``, ``data.label_fraction``).
- Multi-format: two branches (waveform and log-mel) fed the same augmented views; every format of every view of
  a clip is a positive of every other, so NT-Xent sees ``branches * views`` views per clip.

The batch from the loader is ``{"audio": (B, T_long), "length": (B,), "label": (B,)}``. Everything after that
runs batched on the training device inside the step.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
import time

import lightning as L
import torch
from torch import nn

from audiocl.config import AugmentConfig, BranchConfig, Recipe, RecipeError


class Branch(nn.Module):
    """One input format: ``audio (N, T) -> front-end -> encoder h (N, E) -> head z (N, D)``."""

    def __init__(self, cfg: BranchConfig, sample_rate: int, where: str):
        super().__init__()
        from audiocl.frontends import create_frontend
        from audiocl.models import create_encoder, create_head

        frontend_options = {"sample_rate": sample_rate, **cfg.frontend_options}
        self.frontend = _build(f"{where}.frontend", create_frontend, cfg.frontend, **frontend_options)
        self.encoder = _build(f"{where}.encoder", create_encoder, cfg.encoder, **cfg.encoder_options)
        if self.encoder.in_channels != self.frontend.out_channels:
            raise RecipeError(
                f"{where}.encoder_options.in_channels: the encoder takes {self.encoder.in_channels} channel(s) "
                f"but front-end {cfg.frontend!r} gives {self.frontend.out_channels}"
            )
        head = vars(cfg.head)
        self.head = _build(f"{where}.head", create_head, None, self.encoder.embedding_dim, **head)
        self.embedding_dim = self.encoder.embedding_dim

    def embed(self, audio: torch.Tensor) -> torch.Tensor:
        """(N, T) -> encoder output h (N, E), the embedding used downstream."""
        return self.encoder(self.frontend(audio))

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.embed(audio)
        return h, self.head(h)


def _build(where: str, factory, name, *args, **kwargs):
    """Call a registry factory; turn its argument errors into a RecipeError naming the recipe key."""
    try:
        return factory(name, *args, **kwargs) if name is not None else factory(*args, **kwargs)
    except (TypeError, ValueError, KeyError) as err:
        raise RecipeError(f"{where}: {err}") from err


def _classifier(cfg, in_dim: int) -> nn.Module:
    """The supervised head: optional norm and activation, then a linear layer to the classes."""
    from audiocl.models.heads import _activation, _norm

    layers = [_norm(cfg.norm, in_dim), _activation(cfg.activation), nn.Linear(in_dim, cfg.num_classes, bias=cfg.bias)]
    layers = [m for m in layers if not isinstance(m, nn.Identity)]
    return layers[0] if len(layers) == 1 else nn.Sequential(*layers)


def build_augment(cfg: AugmentConfig, sample_rate: int) -> nn.Module:
    """The recipe's augmentation: its preset, or the chain of ``augment.transforms``."""
    import audiocl.augment as augment

    if not cfg.transforms:
        return _build("augment.preset", augment.create_augment, cfg.preset, sample_rate, **cfg.options)
    chain = []
    for i, spec in enumerate(cfg.transforms):
        where = f"augment.transforms.{i}"
        options = dict(spec)
        name = options.pop("name", None)
        cls = getattr(augment, str(name), None)
        if not (isinstance(cls, type) and issubclass(cls, augment.Transform)):
            raise RecipeError(f"{where}.name: {name!r} is not a transform of audiocl.augment")
        if "sample_rate" in inspect.signature(cls).parameters:
            options["sample_rate"] = sample_rate
        chain.append(_build(where, cls, None, **options))
    return augment.Compose(chain)


class ContrastiveMethod(L.LightningModule):
    """Self-supervised (optionally semi-supervised) contrastive pretraining from a :class:`Recipe`.

    The resolved recipe is saved as the only hyperparameter, so a checkpoint rebuilds the whole model
    (:func:`audiocl.checkpoint.load_method`).
    """

    def __init__(self, recipe: dict | Recipe):
        super().__init__()
        recipe = recipe if isinstance(recipe, Recipe) else Recipe.from_dict(recipe)
        self.save_hyperparameters({"recipe": recipe.to_dict()})
        self.recipe = recipe
        from audiocl.losses import create_loss

        sr = recipe.data.sample_rate
        self.augment = build_augment(recipe.augment, sr)
        self.branches = nn.ModuleDict({b.name: Branch(b, sr, f"branches.{i}") for i, b in enumerate(recipe.branches)})
        out_dim = recipe.branches[0].head.out_dim
        loss_options = dict(recipe.loss.options)
        if recipe.loss.temperature is not None:
            loss_options["temperature"] = recipe.loss.temperature
        self.loss_fn = _build("loss", create_loss, recipe.loss.name, out_dim, **loss_options)
        self.queue, self.momentum = _negatives_beyond_the_batch(recipe, self.branches, out_dim)
        first = next(iter(self.branches.values()))
        n_classes = recipe.supervised.num_classes
        reads = out_dim if recipe.supervised.input == "projection" else first.embedding_dim
        self.classifier = _classifier(recipe.supervised, reads) if n_classes else None
        self._check_crop_fits()
        if recipe.trainer.chunk_size:
            if self.classifier is not None:
                raise RecipeError("trainer.chunk_size: gradient caching does not support the supervised head")
            self.automatic_optimization = False
        self._batch_start: float | None = None  # for throughput logging
        self.step_embeddings: dict | None = None  # the last training step's h and z, for audiocl.monitors

    def _check_crop_fits(self) -> None:
        """One silent forward pass of a view through each branch, so a crop too short for an encoder
        (SampleCNN needs 59049 samples) fails here, naming the key, not hours into training."""
        crop = self.recipe.views.crop_samples
        for name, branch in self.branches.items():
            was_training = branch.training
            try:
                with torch.no_grad():
                    branch.eval()(torch.zeros(1, crop))
            except (RuntimeError, ValueError) as err:
                raise RecipeError(f"views.crop_samples: {crop} samples do not fit branch {name!r}: {err}") from err
            finally:
                branch.train(was_training)

    # ----- the step -------------------------------------------------------------------------------------

    def step_generator(self) -> torch.Generator:
        """The step's randomness: a pure function of (seed, rank, step), so resume and DDP are exact."""
        # Distinct for every (seed, rank, step): ranks below 2**8, steps below 2**32.
        seed = (self.recipe.seed * 2**40 + self.global_rank * 2**32 + self.global_step) % 2**63
        return torch.Generator().manual_seed(seed)

    def make_views(self, batch: dict, generator: torch.Generator) -> torch.Tensor:
        """Sample and augment views: (B, T_long) -> (V * B, crop_samples), view-major.

        With ``views.span=file`` the loader already read the views, ``(B, V, crop_samples)``: each an
        independent crop of the whole file."""
        from audiocl.sampling import sample_views

        v = self.recipe.views
        if v.span == "file":
            views = batch["audio"].transpose(0, 1)  # (V, B, T)
        else:
            clips = batch["audio"]
            if v.normalize_clip:  # COLA: unit L2 norm per clip (its zero padding adds nothing to the norm)
                clips = nn.functional.normalize(clips, dim=-1, eps=1e-9)
            views = sample_views(
                clips,
                v.crop_samples,
                v.num_views,
                lengths=batch.get("length"),
                allow_overlap=v.allow_overlap,
                generator=generator,
                min_rms_db=v.min_rms_db,
            )  # (V, B, T)
        if v.positive_noise_std > 0:  # COLA: waveform_p + noise * N(0, 1), the anchor left clean
            noise = torch.randn(views[1:].shape, generator=generator).to(views)
            views = torch.cat([views[:1], views[1:] + v.positive_noise_std * noise])
        return self.augment(views.flatten(0, 1), generator=generator)  # (V*B, T)

    def project(
        self, audio: torch.Tensor, branches: nn.ModuleDict | None = None
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """(N, T) -> per-branch embeddings h [(N, E_b)] and projections z (N, n_branches * D).

        With ``views.to_branches=split`` view ``i`` (rows ``i*B .. (i+1)*B - 1``) is embedded by branch
        ``i % n_branches`` only, and z is ``(N, D)``: each view in the format of its branch. ``branches``: the
        online ones by default, or the momentum encoder's copy."""
        branches = self.branches if branches is None else branches
        if self.recipe.views.to_branches == "split":
            branches = list(branches.values())
            views = audio.unflatten(0, (self.recipe.views.num_views, -1))  # (V, B, T)
            hs, zs = zip(*(branches[i % len(branches)](view) for i, view in enumerate(views)), strict=True)
            return list(hs), torch.cat(zs, dim=0)
        hs, zs = zip(*(branch(audio) for branch in branches.values()), strict=True)
        return list(hs), torch.cat(zs, dim=1)

    @torch.no_grad()
    def momentum_keys(self, audio: torch.Tensor) -> torch.Tensor | None:
        """The momentum encoder's projections of the views (as :meth:`project`'s z), or None without one.

        It first moves towards the online weights (MoCo updates the key encoder before computing the keys);
        with GradCache it embeds in chunks of ``trainer.chunk_size`` rows."""
        if self.momentum is None:
            return None
        self.momentum.update(self.branches, self.global_step)
        chunk = self.recipe.trainer.chunk_size
        if chunk is None or self.recipe.views.to_branches == "split":
            return self.project(audio, self.momentum.module)[1]
        return torch.cat([self.project(part, self.momentum.module)[1] for part in audio.split(chunk)])

    def _as_loss_views(self, z: torch.Tensor, B: int) -> torch.Tensor:
        """z (V * B, n_branches * D) view-major (or (V * B, D) for ``to_branches=split``) -> (V', B, D)."""
        V = self.recipe.views.num_views
        if self.recipe.views.to_branches == "split":
            return z.view(V, B, -1)  # each view already in its own branch's format
        nb = len(self.branches)
        return z.view(V, B, nb, -1).permute(2, 0, 1, 3).reshape(nb * V, B, -1)  # (formats*views, B, D)

    def contrastive_loss(self, z: torch.Tensor, labels: torch.Tensor, keys: torch.Tensor | None = None) -> torch.Tensor:
        """z (V * B, n_branches * D) view-major (or (V * B, D) for ``to_branches=split``) -> the loss over
        all formats and views.

        ``keys``: the momentum encoder's projections, in z's layout. With a memory queue, its keys are extra
        negatives and this step's keys (the last view's; the momentum encoder's when there is one) are
        enqueued after the loss, so a batch is never its own negative."""
        B = labels.shape[0]
        z = self._as_loss_views(z, B)
        extra = {}
        if keys is not None:
            extra["keys"] = keys = self._as_loss_views(keys, B)
        if self.recipe.loss.name == "supcon":
            # Unlabelled clips get a label of their own, never reused (across ranks and steps, so also not in
            # the queue): SupCon then treats them as SimCLR anchors.
            world, rank = (self.trainer.world_size, self.global_rank) if self._trainer is not None else (1, 0)
            first = (self.global_step * world + rank) * B
            own = -1 - first - torch.arange(B, device=labels.device)
            labels = torch.where(labels >= 0, labels, own)
            extra["labels"] = labels
        if self.queue is not None:
            extra["negatives"], extra["negative_labels"] = self.queue.negatives()
        loss = self.loss_fn(z, **extra)
        if self.queue is not None:
            self.queue.enqueue((z if keys is None else keys)[-1].detach(), labels)
        return loss

    def supervised_loss(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the classifier on the labelled clips, summed over the views (CLAR's
        ``cross_entropy(view 1) + cross_entropy(view 2)``, each a mean over the labelled clips); 0 (with a
        graph) if none."""
        V = self.recipe.views.num_views
        logits = self.classifier(features).unflatten(0, (V, -1))  # (V, B, C)
        known = labels >= 0
        if not known.any():
            return logits.sum() * 0.0  # keeps every parameter in the graph (DDP needs that)
        return sum(nn.functional.cross_entropy(view[known], labels[known]) for view in logits)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor | None:
        generator = self.step_generator()
        labels = batch.get("label")
        if labels is None:
            labels = torch.full((batch["audio"].shape[0],), -1, device=self.device)
        with torch.no_grad():
            audio = self.make_views(batch, generator)
        keys = self.momentum_keys(audio)
        self.step_embeddings = None  # GradCache's chunks never hold the whole batch's embeddings
        if not self.automatic_optimization:
            return self._cached_step(audio, labels, keys)
        hs, z = self.project(audio)
        # For the collapse monitors (audiocl.monitors): the first branch's embedding and projection, no graph.
        self.step_embeddings = {"h": hs[0].detach(), "z": z[:, : self.recipe.branches[0].head.out_dim].detach()}
        loss = contrastive = self.contrastive_loss(z, labels, keys)
        if self.classifier is not None:
            # The first branch's embedding h, or its projection z (the first out_dim columns of z).
            features = (
                z[:, : self.recipe.branches[0].head.out_dim] if self.recipe.supervised.input == "projection" else hs[0]
            )
            ce = self.supervised_loss(features, labels)
            loss = contrastive + self.recipe.supervised.weight * ce
            self.log("train/ce", ce, on_step=True, sync_dist=self._distributed)
        # Each rank's loss is the mean over its own anchors; the synced mean is the global batch's loss.
        self.log("train/contrastive", contrastive, on_step=True, sync_dist=self._distributed)
        self.log("train/loss", loss, on_step=True, prog_bar=True, sync_dist=self._distributed)
        return loss

    def configure_callbacks(self) -> list:
        """The monitors ``recipe.eval`` asks for (collapse, online kNN, the training report)."""
        from audiocl.monitors import monitors_for

        return monitors_for(self.recipe)

    @property
    def _distributed(self) -> bool:
        return self._trainer is not None and self.trainer.world_size > 1

    def _cached_step(self, audio: torch.Tensor, labels: torch.Tensor, keys: torch.Tensor | None) -> None:
        """GradCache (``trainer.chunk_size``): the loss of the whole batch, the memory of one chunk.

        Under DDP the chunks' backward passes run without gradient sync, and the gradients are averaged
        across ranks once, before the update (what DDP would have done after one backward).
        """
        from audiocl.gradcache import average_gradients, cached_step

        optimizer = self.optimizers()
        optimizer.zero_grad()
        distributed = self._distributed
        no_sync = getattr(self.trainer.strategy, "block_backward_sync", None)
        with no_sync() if distributed and no_sync else contextlib.nullcontext():
            loss = cached_step(
                lambda chunk: self.project(chunk)[1],
                audio,
                lambda z: self.contrastive_loss(z, labels, keys),
                self.recipe.trainer.chunk_size,
                backward=self.manual_backward,
            )
        if distributed:
            average_gradients(self.parameters())
        optimizer.step()  # clipping happens in on_before_optimizer_step, after a 16-bit loss scale is undone
        self.lr_schedulers().step()
        self.log("train/contrastive", loss, on_step=True, sync_dist=distributed)
        self.log("train/loss", loss, on_step=True, prog_bar=True, sync_dist=distributed)

    def on_before_optimizer_step(self, optimizer) -> None:
        # Lightning clips automatically-optimised steps itself (Trainer's gradient_clip_val); GradCache's manual
        # steps are clipped here, where Lightning calls this hook after unscaling 16-bit gradients.
        if not self.automatic_optimization and self.recipe.trainer.gradient_clip_val:
            self.clip_gradients(optimizer, gradient_clip_val=self.recipe.trainer.gradient_clip_val)

    # ----- throughput logging -----------------------------------------------------------------------------

    def on_train_batch_start(self, batch: dict, batch_idx: int) -> None:
        self.log("train/lr", self.optimizers().param_groups[0]["lr"], on_step=True)
        now = time.perf_counter()
        previous, self._batch_start = self._batch_start, now
        if previous is None:
            return
        # Over one period (start to start), the time spent blocked on the loader (see TimedDataLoader).
        period = now - previous
        wait = getattr(self.trainer.train_dataloader, "last_wait_s", 0.0)
        clips = batch["audio"].shape[0] * self.trainer.world_size
        self.log("train/clips_per_s", clips / max(period, 1e-9), on_step=True, prog_bar=True)
        self.log("train/data_wait_fraction", min(1.0, wait / max(period, 1e-9)), on_step=True)

    # ----- optimisation ---------------------------------------------------------------------------------

    def configure_optimizers(self):
        o = self.recipe.optim
        global_batch = self.recipe.data.batch_size * self.trainer.world_size
        lr = (
            o.lr
            * {
                "none": 1.0,
                "linear": global_batch / o.base_batch_size,
                "sqrt": math.sqrt(global_batch / o.base_batch_size),
            }[o.lr_scaling]
        )
        optimizer = build_optimizer(
            self.named_parameters(),
            o.name,
            lr=lr,
            weight_decay=o.weight_decay,
            momentum=o.momentum,
            betas=tuple(o.betas),
            lars_trust=o.lars_trust,
        )
        schedule = functools.partial(
            warmup_cosine, warmup_steps=o.warmup_steps, total_steps=self.recipe.trainer.max_steps,
            schedule=o.schedule, min_ratio=o.min_lr_ratio,
        )  # fmt: skip
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def _negatives_beyond_the_batch(recipe: Recipe, branches: nn.ModuleDict, dim: int):
    """The recipe's memory queue (``loss.queue_size``) and momentum encoder (``method.momentum_encoder``), or
    None for each that is off."""
    from audiocl.losses.queue import MemoryQueue
    from audiocl.momentum import MomentumEncoder

    loss, m = recipe.loss, recipe.method.momentum_encoder
    queue = MemoryQueue(loss.queue_size, dim, loss.queue_warmup) if loss.queue_size else None
    momentum = None
    if m.momentum is not None:
        momentum = MomentumEncoder(branches, m.momentum, m.schedule, recipe.trainer.max_steps)
    return queue, momentum


def build_optimizer(
    named_parameters,
    name: str,
    *,
    lr: float,
    weight_decay: float,
    momentum: float,
    betas: tuple[float, float],
    lars_trust: float,
) -> torch.optim.Optimizer:
    """Adam, AdamW, SGD, LARS or LARS-wrapped Adam (CLAR's, :class:`audiocl.optim.LarsAdam`; ``lars_trust`` is
    its eta). Biases and norm parameters get no weight decay (and, for LARS, no layer-wise adaptation), as in
    SimCLR."""
    decay, no_decay = [], []
    for _, p in named_parameters:
        if p.requires_grad:
            (no_decay if p.ndim <= 1 else decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if name == "adam":
        return torch.optim.Adam(groups, lr=lr, betas=betas)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, betas=betas)
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum)
    if name == "lars_adam":
        from audiocl.optim import LarsAdam

        return LarsAdam(groups, lr=lr, betas=betas, eta=lars_trust)
    if name == "lars":
        from timm.optim import Lars  # adapts only groups with weight decay, so biases/norms are excluded

        return Lars(groups, lr=lr, momentum=momentum, trust_coeff=lars_trust)
    raise ValueError(f"unknown optimizer {name!r}; use adam, adamw, sgd, lars or lars_adam")


def warmup_cosine(
    step: int, *, warmup_steps: int, total_steps: int, schedule: str = "cosine", min_ratio: float = 0.0
) -> float:
    """LR factor: linear warm-up over ``warmup_steps``, then cosine decay to ``min_ratio`` (or constant).

    Bound with ``functools.partial`` for ``LambdaLR``: a partial has no ``__dict__`` state, so a resumed run
    follows its own recipe's schedule (e.g. a longer ``max_steps``), not the one saved in the checkpoint.
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
