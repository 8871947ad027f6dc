"""audiocl.eval.compare, its writers in audiocl.report and `audiocl compare`: one table of embedders x tasks."""

from __future__ import annotations

import csv
import dataclasses
import io

import pytest

from audiocl.data.task import load_task
from audiocl.embed import mfcc_baseline
from audiocl.eval.compare import compare, tabulate
from audiocl.eval.probes.options import KnnOptions
from audiocl.probe import ProbeOptions, paired, run_probe
from audiocl.report import (
    OutputError,
    comparison_csv,
    comparison_markdown,
    comparison_png,
    format_difference,
    format_metric,
    write_comparison,
)
from audiocl.synth import make_corpus

SR = 8000
# The kNN head trains nothing, so each probe takes milliseconds; what is tested here is the table around it.
# k=5 of ~20 training clips: the two MFCC sizes then score differently (k=20 votes with nearly every clip).
SETTINGS = dict(seeds=(0, 1), head="knn", n_boot=200, options=ProbeOptions(knn=KnnOptions(k=5)), progress=False)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Five timbre classes, 6 short clips each: a CSV task (its own split) and a folder task (a stratified one)."""
    root = tmp_path_factory.mktemp("corpus")
    make_corpus(root, clips_per_class=6, sample_rate=SR, clip_seconds=0.5, test_fraction=0.34)
    return root


@pytest.fixture(scope="module")
def tasks(corpus):
    return {"timbre": load_task("csv", corpus / "labels.csv"), "folders": load_task("folder", corpus / "audio")}


def embedders():
    return {"mfcc": mfcc_baseline(SR), "mfcc8": mfcc_baseline(SR, n_mfcc=8)}


@pytest.fixture(scope="module")
def table(tasks):
    return compare(tasks, embedders(), reference="mfcc8", **SETTINGS)


def test_cells_hold_what_run_probe_gives_for_the_same_inputs(tasks, table):
    assert table.embedders == ["mfcc", "mfcc8"] and table.tasks == ["timbre", "folders"]
    assert table.metrics == {"timbre": "accuracy", "folders": "accuracy"}
    for task_name, task in tasks.items():
        for name, embedder in embedders().items():
            alone = run_probe(task, embedder, name=name, **SETTINGS).metrics["accuracy"]
            cell = table.cell(name, task_name)
            assert cell.mean == pytest.approx(alone["mean"]) and cell.std == pytest.approx(alone["std"])
            assert cell.values == pytest.approx(tuple(alone["values"]))
            assert cell.ci95 == pytest.approx(tuple(alone["ci95"]))
    assert table.settings == {"protocol": "audiocl", "head": "knn", "aggregation": "embedding",
                              "seeds": [0, 1], "label_fraction": 1.0, "n_boot": 200}  # fmt: skip


def test_paired_differences_match_audiocl_probe_paired(tasks, table):
    task = tasks["timbre"]
    a, ref = (run_probe(task, e, name=n, **SETTINGS) for n, e in embedders().items())
    expected = paired(a, ref, n_boot=200)["accuracy"]
    cell = table.cell("mfcc", "timbre")
    assert cell.difference == pytest.approx(expected["difference"])
    assert cell.difference_ci95 == pytest.approx(tuple(expected["ci95"]))
    assert cell.p_value == pytest.approx(expected["p_value"])
    # The sign is this row minus the reference, the same items scored: the difference of the two means.
    assert cell.difference != 0
    assert cell.difference == pytest.approx(cell.mean - table.cell("mfcc8", "timbre").mean)
    assert cell.difference_ci95[0] <= cell.difference <= cell.difference_ci95[1]
    assert table.cell("mfcc8", "timbre").difference is None  # the reference has none


def test_csv_parses_back_to_the_same_numbers(table):
    rows = list(csv.DictReader(io.StringIO(comparison_csv(table))))
    assert len(rows) == 2 * 2  # embedders x tasks x one metric (accuracy)
    for row in rows:
        cell = table.cell(row["embedder"], row["task"], row["metric"])
        assert float(row["mean"]) == cell.mean and float(row["std"]) == cell.std
        assert (float(row["ci95_low"]), float(row["ci95_high"])) == cell.ci95
        assert tuple(float(v) for v in row["values"].split()) == cell.values
        assert row["reference"] == "mfcc8" and row["seeds"] == "0 1" and row["n_boot"] == "200"
        if row["embedder"] == "mfcc8":
            assert row["difference"] == row["p_value"] == ""
        else:
            assert float(row["difference"]) == cell.difference and float(row["p_value"]) == cell.p_value


def test_markdown_states_the_protocol_once_and_one_row_per_embedder(table):
    md = comparison_markdown(table)
    lines = md.splitlines()
    assert lines[4] == "| embedder | timbre (accuracy) | Δ vs mfcc8 | folders (accuracy) | Δ vs mfcc8 |"
    rows = [line for line in lines if line.startswith("| mfcc")]
    assert [r.split(" | ")[0] for r in rows] == ["| mfcc", "| mfcc8"]
    c = table.cell("mfcc", "folders")
    diff = {"difference": c.difference, "ci95": c.difference_ci95, "p_value": c.p_value}
    assert f"| {format_metric({'mean': c.mean, 'std': c.std, 'ci95': c.ci95})} | {format_difference(diff)} |" in rows[0]
    assert rows[1].count("| reference |") == 2
    assert md.count("Protocol `audiocl`, head `knn`, aggregation `embedding`; label fraction 100%; seeds 0, 1") == 1
    assert "(200 resamples)" in md and "against `mfcc8`" in md
    # Each task's split, in words: the CSV's own (train and test), and the one audiocl drew for the folder.
    assert "the train/test split given with the data, validation: a tenth of the training items, carved by" in md
    assert "split drawn by audiocl (stratified 80/10/10, seed 0; the data has none)" in md


def test_png_is_drawn_without_touching_pyplot_state(table):
    import matplotlib

    backend = matplotlib.get_backend()
    png = comparison_png(table)
    assert png[:4] == b"\x89PNG" and len(png) > 1000
    assert matplotlib.get_backend() == backend


def test_write_comparison_refuses_to_overwrite_and_leaves_the_files_as_they_were(table, tmp_path):
    paths = write_comparison(table, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["compare.csv", "compare.md", "compare.png"]
    before = {k: p.read_bytes() for k, p in paths.items()}
    paths["csv"].write_text("edited")
    with pytest.raises(OutputError, match="pass --overwrite"):
        write_comparison(table, tmp_path / "out")
    assert paths["csv"].read_text() == "edited" and paths["png"].read_bytes() == before["png"]
    write_comparison(table, tmp_path / "out", overwrite=True)
    assert paths["csv"].read_bytes() == before["csv"]


def test_bad_reference_and_mixed_settings_are_refused(tasks, table):
    with pytest.raises(ValueError, match="reference 'nope' is none of the embedders"):
        compare(tasks, embedders(), reference="nope", **SETTINGS)
    results = dict(table.results)
    key = ("mfcc", "folders")
    results[key] = dataclasses.replace(results[key], seeds=[0, 1, 2])
    with pytest.raises(ValueError, match="probed with seeds"):
        tabulate(results, aggregation="probability", n_boot=200)


@pytest.mark.slow  # two embedders, one of them a small CNN, through the whole command
def test_cli_writes_the_three_files_and_refuses_to_overwrite(corpus, tmp_path, capsys):
    from audiocl.cli import main

    out = tmp_path / "cmp"
    args = ["compare", "--task", f"csv={corpus / 'labels.csv'}", "--task", f"folder={corpus / 'audio'}",
            "--option", "folder.seed=1", "--baseline", "mfcc", "--baseline", "random", "--recipe", "clmr_tiny",
            "--sample-rate", str(SR), "--reference", "mfcc", "--seeds", "0", "--bootstrap", "100",
            "--head", "knn", "--device", "cpu", "--no-progress", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "| embedder | csv (accuracy) | Δ vs mfcc | folder (accuracy) | Δ vs mfcc |" in printed
    assert "| random |" in printed and "| mfcc |" in printed
    md = (out / "compare.md").read_text()
    assert md in printed  # what it prints is what it writes
    assert (out / "compare.png").read_bytes()[:4] == b"\x89PNG"
    assert len(list(csv.DictReader((out / "compare.csv").open()))) == 2 * 2
    assert main(args) == 2 and "pass --overwrite" in capsys.readouterr().err
    assert (out / "compare.md").read_text() == md
    assert main([*args, "--overwrite"]) == 0
    assert capsys.readouterr().err.count("reusing cached embeddings") == 2 * 2  # the first run's, per cell
    assert (out / "compare.md").read_text() == md  # the same numbers from cached embeddings


@pytest.mark.parametrize(
    "spec, message",
    [
        ("esc5=/data", "--task 'esc5=/data': expected NAME=ROOT with NAME one of"),
        ("esc50", "--task 'esc50': expected NAME=ROOT"),
        ("esc50=", "--task 'esc50=': expected NAME=ROOT"),
    ],
)
def test_a_bad_task_spec_names_itself_in_one_line(spec, message, tmp_path, capsys):
    from audiocl.cli import main

    code = main(["compare", "--task", spec, "--baseline", "mfcc", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_options_and_checkpoints_name_what_is_wrong(corpus, tmp_path, capsys):
    from audiocl.cli import main

    base = ["compare", "--task", f"csv={corpus / 'labels.csv'}", "--out", str(tmp_path / "o")]
    assert main([*base, "--baseline", "mfcc", "--option", "esc50.esc10=true"]) == 2
    assert "--option 'esc50.esc10=true': expected NAME.KEY=VALUE with NAME one of the tasks ['csv']" in (
        capsys.readouterr().err
    )
    assert main([*base, "--checkpoint", "a=x.ckpt", "--checkpoint", "a=y.ckpt"]) == 2
    assert "row 'a' is given twice" in capsys.readouterr().err
    assert main([*base, "--checkpoint", "mfcc=x.ckpt", "--baseline", "mfcc"]) == 2
    assert "label 'mfcc' is also a --baseline" in capsys.readouterr().err
    assert main([*base, "--baseline", "mfcc", "--reference", "clmr"]) == 2
    assert "--reference 'clmr' is none of the rows: ['mfcc']" in capsys.readouterr().err
    (tmp_path / "file").write_text("")
    assert main([*base[:-1], str(tmp_path / "file"), "--baseline", "mfcc"]) == 2
    assert "is a file: give a folder" in capsys.readouterr().err
    assert main(base) == 2 and "give --checkpoint CKPT and/or --baseline" in capsys.readouterr().err


def test_a_tagging_task_is_scored_by_roc_auc_and_the_csv_keeps_pr_auc(tmp_path):
    from layouts import make_csv

    tags = load_task("csv", make_csv(tmp_path / "tags"))  # multi-label rows ("rock;guitar")
    table = compare({"tags": tags}, embedders(), reference="mfcc8", **SETTINGS)
    assert table.metrics == {"tags": "roc_auc"}
    assert "| embedder | tags (ROC-AUC) | Δ vs mfcc8 |" in comparison_markdown(table)
    rows = list(csv.DictReader(io.StringIO(comparison_csv(table))))
    assert sorted({r["metric"] for r in rows}) == ["pr_auc", "roc_auc"]
    pr = next(r for r in rows if r["embedder"] == "mfcc" and r["metric"] == "pr_auc")
    assert float(pr["mean"]) == table.cell("mfcc", "tags", "pr_auc").mean
    assert pr["difference"] != ""  # every metric gets its paired difference
