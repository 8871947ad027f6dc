"""MagnaTagATune loader on its miniature: top-50 tags, folder/Won/Pons splits, malformed layouts."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
from layouts import MTAT_FACTS

from audiocl.data import LayoutError, load_task
from audiocl.data.magnatagatune import top_tags


def _annotations(root):
    with open(root / "annotations_final.csv", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    header, body = rows[0], rows[1:]
    return header, body


def test_file_is_tab_separated_and_quoted(mtat_root):
    first = (mtat_root / "annotations_final.csv").read_text().splitlines()[0]
    assert first.startswith('"clip_id"\t') and first.endswith('\t"mp3_path"')
    assert first.count("\t") == 189  # clip_id + 188 tags + mp3_path


def test_top50_by_frequency(mtat_root):
    header, body = _annotations(mtat_root)
    tags = header[1:-1]
    counts = {t: sum(int(r[1 + j]) for r in body) for j, t in enumerate(tags)}
    expected = sorted(tags, key=lambda t: (-counts[t], tags.index(t)))[:50]
    task = load_task("magnatagatune", mtat_root, split="folder")
    assert task.classes == expected and task.multilabel
    # every item's targets are exactly its positive top-50 columns
    by_path = {r[-1]: r for r in body}
    for it in task.items:
        row = by_path[str(it.path.relative_to(mtat_root))]
        assert [task.classes[k] for k in it.target] == [t for t in expected if row[1 + tags.index(t)] == "1"]


def test_top_tags_ties_break_by_column_order():
    m = np.array([[1, 1, 0, 1], [0, 1, 1, 1]])
    assert top_tags(m, 3).tolist() == [1, 3, 0]


def test_default_split_is_clmrs_pons2017(mtat_root):
    # CLMR's MAGNATAGATUNE class defaults to split="pons2017": our default and its alias give that split.
    default = load_task("magnatagatune", mtat_root)
    pons = load_task("magnatagatune", mtat_root, split="pons2017")
    assert default.options["split"] == pons.options["split"] == "pons"
    assert [(it.path, it.split) for it in default.items] == [(it.path, it.split) for it in pons.items]
    assert "Pons" in default.notes
    assert load_task("magnatagatune", mtat_root, split="won2020").options["split"] == "won"


def test_folder_split(mtat_root):
    task = load_task("magnatagatune", mtat_root, split="folder")
    n = MTAT_FACTS["clips_per_folder"]
    assert len(task.items) == 16 * n
    want = {"train": 12 * n, "valid": n, "test": 3 * n}
    assert {s: len(task.select(split=s)) for s in want} == want
    for it in task.items:
        folder = it.path.parent.name
        assert it.split == ("train" if folder in "0123456789ab" else "valid" if folder == "c" else "test")
    # a track never spans two splits
    splits_of = {}
    for it in task.items:
        splits_of.setdefault(it.group, set()).add(it.split)
    assert all(len(s) == 1 for s in splits_of.values()) and len(splits_of) == 16


def test_won_split(mtat_root):
    task = load_task("magnatagatune", mtat_root, split="won")
    d = mtat_root / "split" / "mtat"
    binary = np.load(d / "binary.npy")
    assert task.classes == [str(t) for t in np.load(d / "tags.npy")]
    for split in ("train", "valid", "test"):
        lines = [str(x) for x in np.load(d / f"{split}.npy")]
        items = task.select(split=split)
        assert [str(it.path.relative_to(mtat_root)) for it in items] == [x.split("\t")[1] for x in lines]
        for it, line in zip(items, lines, strict=True):
            assert it.target == np.flatnonzero(binary[int(line.split("\t")[0])]).tolist()
    # Won's tags equal our top-50 computed from the annotation file
    assert task.classes == load_task("magnatagatune", mtat_root, split="folder").classes


def test_pons_split(mtat_root):
    task = load_task("magnatagatune", mtat_root, split="pons")
    folder_task = load_task("magnatagatune", mtat_root, split="folder")
    header, body = _annotations(mtat_root)
    path_of = {r[0]: r[-1] for r in body}
    for split, name in (("train", "train"), ("valid", "val"), ("test", "test")):
        lines = (mtat_root / f"{name}_gt_mtt.tsv").read_text().split("\n")[:-1]
        items = task.select(split=split)
        assert len(items) == len(lines)
        for it, line in zip(items, lines, strict=True):
            cid, vec = line.split("\t")
            assert str(it.path.relative_to(mtat_root)) == path_of[cid]
            assert it.target == np.flatnonzero(json.loads(vec)).tolist()
    assert task.classes == folder_task.classes


def test_missing_annotations_names_the_file(tmp_path):
    with pytest.raises(LayoutError, match="annotations_final.csv"):
        load_task("magnatagatune", tmp_path)


def test_missing_column_is_named(tmp_path, mtat_root):
    text = (mtat_root / "annotations_final.csv").read_text().replace('"mp3_path"', '"path"')
    (tmp_path / "annotations_final.csv").write_text(text)
    with pytest.raises(LayoutError, match="mp3_path"):
        load_task("magnatagatune", tmp_path)


def test_missing_split_files_are_named(tmp_path, mtat_root):
    shutil.copy(mtat_root / "annotations_final.csv", tmp_path)
    with pytest.raises(LayoutError, match="train.npy"):
        load_task("magnatagatune", tmp_path, split="won")
    with pytest.raises(LayoutError, match="train_gt_mtt.tsv"):
        load_task("magnatagatune", tmp_path, split="pons")
    with pytest.raises(ValueError, match="split must be"):
        load_task("magnatagatune", tmp_path, split="random")


def test_pons_tag_names_come_from_the_data(tmp_path, mtat_root):
    # Pons files carry no tag names; a file whose first two columns are swapped (as a tie could do) must
    # give swapped names, and a column matching no tag is an error.
    shutil.copy(mtat_root / "annotations_final.csv", tmp_path)
    for folder in MTAT_FACTS["folders"]:
        (tmp_path / folder).symlink_to(mtat_root / folder)
    ours = load_task("magnatagatune", mtat_root, split="pons")
    for name in ("train", "val", "test"):
        lines = []
        for line in (mtat_root / f"{name}_gt_mtt.tsv").read_text().split("\n")[:-1]:
            cid, vec = line.split("\t")
            vec = json.loads(vec)
            vec[0], vec[1] = vec[1], vec[0]
            lines.append(f"{cid}\t{json.dumps(vec)}")
        (tmp_path / f"{name}_gt_mtt.tsv").write_text("\n".join(lines) + "\n")
    swapped = load_task("magnatagatune", tmp_path, split="pons")
    assert swapped.classes[:2] == ours.classes[1::-1] and swapped.classes[2:] == ours.classes[2:]
    test = tmp_path / "test_gt_mtt.tsv"
    cid, vec = test.read_text().split("\n")[0].split("\t")
    vec = json.loads(vec)
    vec[5] = 1.0 - vec[5]
    test.write_text(f"{cid}\t{json.dumps(vec)}\n" + "\n".join(test.read_text().split("\n")[1:]))
    with pytest.raises(LayoutError, match="label column 5"):
        load_task("magnatagatune", tmp_path, split="pons")


@pytest.mark.parametrize("cell, match", [("2", "0 or 1"), ("10", "0 or 1"), (None, "fields")])
def test_malformed_rows(tmp_path, mtat_root, cell, match):
    lines = (mtat_root / "annotations_final.csv").read_text().split("\n")
    fields = lines[3].split("\t")
    if cell is None:
        del fields[5]
    else:
        fields[5] = f'"{cell}"'
    lines[3] = "\t".join(fields)
    (tmp_path / "annotations_final.csv").write_text("\n".join(lines))
    with pytest.raises(LayoutError, match=match):
        load_task("magnatagatune", tmp_path)
