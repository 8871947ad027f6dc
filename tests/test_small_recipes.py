"""The four `recipes/<method>_small.yaml` build, train a few steps on a folder of audio, and embed.

What they are worth is measured by scripts/experiment_small.py (docs/small_recipes.md), not here: these are
benchmarks, and this test only checks that each one runs as a user would run it.
"""

from __future__ import annotations

import pytest
import torch

from audiocl.config import load_recipe
from audiocl.recipes_path import RECIPES
from audiocl.synth import make_corpus

SMALL = ["clmr_small", "cola_small", "clar_small", "multiformat_small"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    make_corpus(root, clips_per_class=4, clip_seconds=1.5, sample_rate=16000, classes=["plucked", "bowed", "reed"])
    return root / "audio"


@pytest.mark.parametrize("name", SMALL)
def test_a_small_recipe_trains_a_few_steps_and_its_checkpoint_embeds(name, corpus, tmp_path):
    import audiocl
    from audiocl.train import pretrain

    run = tmp_path / "run"
    overrides = [f"data.root={corpus}", f"output_dir={run}", "data.batch_size=6", "trainer.max_steps=2",
                 "trainer.progress_bar=false", "data.num_workers=0", "eval.monitors.every_n_steps=1"]  # fmt: skip
    if name.startswith("clar"):
        overrides.append("supervised.num_classes=3")  # the folder's classes feed CLAR's cross-entropy
    recipe = load_recipe(RECIPES / f"{name}.yaml", overrides)
    assert recipe.trainer.max_steps == 2 and recipe.name == name
    pretrain(recipe)
    encoder = audiocl.load_encoder(run / "checkpoints" / "last.ckpt")
    clip = 0.1 * torch.randn(24000, generator=torch.Generator().manual_seed(0))
    embedding = encoder.embed(clip, sample_rate=16000)
    assert embedding.shape == (encoder.embedding_size,) and torch.isfinite(embedding).all()
