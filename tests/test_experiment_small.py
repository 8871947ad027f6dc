"""scripts/experiment_small.py's plans: no task is probed with an encoder that heard its own corpus, and the
union of two corpora is read as one folder of their audio (the speech background noise left out)."""

from __future__ import annotations

import pytest
import torch
from layouts import make_esc50, make_magnatagatune, make_speech_commands
from repo_scripts import load_script

from audiocl.data.folder import list_audio


@pytest.fixture(scope="module")
def exp():
    return load_script("experiment_small")


def test_a_plan_it_cannot_run_is_refused_before_any_pretraining(exp, tmp_path):
    with pytest.raises(SystemExit, match="CLAR"):
        exp.main(["--out", str(tmp_path), "--recipes", "cola_small", "clar_small", "--pretrain-on", "union"])
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("recipe", ["cola_small", "clar_small"])
@pytest.mark.parametrize("pretrain_on", ["other", "union"])
def test_no_task_is_probed_with_its_own_corpus(exp, recipe, pretrain_on):
    if recipe == "clar_small" and pretrain_on == "union":
        with pytest.raises(SystemExit, match="CLAR"):
            exp.plan(recipe, pretrain_on)
        return
    plan = exp.plan(recipe, pretrain_on)
    probed = [task for tasks in plan.values() for task in tasks]
    assert sorted(probed) == sorted(exp.TASKS)  # each task once
    for corpora, tasks in plan.items():
        assert not set(corpora.split("+")) & set(tasks)
        if pretrain_on == "union":
            assert len(corpora.split("+")) == 2


def test_a_union_folder_lists_the_audio_of_both_corpora(exp, tmp_path):
    corpora = tmp_path / "corpora"
    music = make_magnatagatune(corpora / "magnatagatune")
    speech = make_speech_commands(corpora / "speech_commands")
    make_esc50(corpora / "esc50")
    root = exp.union_folder(["music", "speech"], corpora, tmp_path / "out")
    moved = tmp_path / "moved"
    corpora.rename(moved)  # a second call, after the corpora moved, points the links at their new place
    assert exp.union_folder(["music", "speech"], moved, tmp_path / "out") == root
    music, speech = moved / "magnatagatune", moved / "speech_commands"
    want = [p for p in list_audio(speech) if "_background_noise_" not in p.parts] + list_audio(music)
    got = list_audio(root)
    assert len(got) == len(want) > 0
    assert sorted(p.resolve() for p in got) == sorted(p.resolve() for p in want)


def test_random_init_is_the_overridden_encoder_on_the_overridden_chunks(exp):
    bundled = exp.baselines("cola_small", [])["random init"]
    wider = exp.baselines("cola_small", ["branches.0.encoder_options.width=24", "views.crop_samples=32000"])
    untrained = wider["random init"]
    count = lambda e: sum(p.numel() for p in e.encoder.parameters())  # noqa: E731
    assert count(untrained) > count(bundled)
    assert (bundled.segment_samples, untrained.segment_samples) == (16000, 32000)
    assert wider["mfcc"].identity["kind"] == "mfcc"


def test_random_draws_are_distinct_encoders_and_the_summary_gives_their_spread(exp):
    refs = exp.baselines("cola_small", [], draws=3)
    assert list(refs) == ["random init", "mfcc", "random init, draw 1", "random init, draw 2"]
    first = [next(refs[n].encoder.parameters()) for n in refs if n.startswith("random init")]
    assert not torch.equal(first[0], first[1]) and not torch.equal(first[1], first[2])
    assert torch.equal(first[0], next(exp.baselines("cola_small", [])["random init"].encoder.parameters()))

    row = {"recipe": "cola_small", "task": "music", "metric": "roc_auc", "pretrained_on": "sounds", "minutes": 6.0,
           "score": 0.771, "score_ci95": [0.746, 0.790], "random": 0.692, "random_ci95": [0.671, 0.720],
           "vs_random": 0.079, "vs_random_ci95": [0.048, 0.099], "mfcc": 0.749, "mfcc_ci95": [0.727, 0.778],
           "vs_mfcc": 0.021, "vs_mfcc_ci95": [-0.009, 0.044], "random_draws": [0.692, 0.715, 0.739],
           "vs_random_draws_mean": 0.771 - (0.692 + 0.715 + 0.739) / 3}  # fmt: skip
    text = exp.summary_markdown([row])
    assert "| cola_small | music | 71.5 [69.2, 73.9] over 3 | **+5.6** |" in text
    assert "draws" not in exp.summary_markdown([{**row, "random_draws": [0.692]}])


def test_a_summary_row_keeps_every_draw_of_the_random_reference_table(exp):
    from audiocl.eval.compare import Cell, ComparisonTable

    def table(scores: dict, reference: str):
        def cell(name, mean):
            paired = (None, None, None) if name == reference else (0.05, (0.01, 0.09), 0.01)
            return {"roc_auc": Cell("roc_auc", mean, 0.0, (mean,), (mean - 0.02, mean + 0.02), *paired)}

        cells = {(name, "music"): cell(name, mean) for name, mean in scores.items()}
        return ComparisonTable(list(scores), ["music"], {"music": "roc_auc"}, cells, {}, {}, reference)

    scores = {
        "trained": 0.77,
        "random init": 0.69,
        "mfcc": 0.75,
        "random init, draw 1": 0.72,
        "random init, draw 2": 0.74,
    }
    tables = {"random init": table(scores, "random init"), "mfcc": table({**scores, "mfcc": 0.60}, "mfcc")}
    row = exp.summary_row("cola_small", "sounds", 360.0, "music", "trained", tables)
    assert row["random_draws"] == [0.69, 0.72, 0.74]  # seed 0 first, from the random-referenced table
    assert row["vs_random_draws_mean"] == pytest.approx(0.0533, abs=1e-4)
    assert (row["random"], row["mfcc"], row["minutes"]) == (0.69, 0.75, 6.0)


def test_random_draws_below_one_are_refused(exp, tmp_path, capsys):
    with pytest.raises(SystemExit) as refused:
        exp.main(["--out", str(tmp_path), "--recipes", "cola_small", "--random-draws", "0"])
    assert refused.value.code == 2 and "--random-draws must be at least 1" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_a_table_taken_against_another_reference_equals_comparing_against_it(exp, tmp_path):
    from audiocl.data.task import load_task
    from audiocl.embed import mfcc_baseline
    from audiocl.eval.compare import compare
    from audiocl.eval.probes.options import KnnOptions
    from audiocl.probe import ProbeOptions
    from audiocl.synth import make_corpus

    make_corpus(tmp_path, clips_per_class=6, sample_rate=8000, clip_seconds=0.5, test_fraction=0.34)
    tasks = {"timbre": load_task("csv", tmp_path / "labels.csv")}
    embedders = {"a": mfcc_baseline(8000), "b": mfcc_baseline(8000, n_mfcc=8), "c": mfcc_baseline(8000, n_mfcc=4)}
    settings = dict(seeds=(0, 1), head="knn", n_boot=200, options=ProbeOptions(knn=KnnOptions(k=5)), progress=False)
    direct = compare(tasks, embedders, reference="b", **settings)
    taken = exp.against(compare(tasks, embedders, reference="a", **settings), "b")
    assert taken.reference == "b" and taken.cells == direct.cells
    assert taken.cell("a", "timbre").difference is not None and taken.cell("b", "timbre").difference is None
