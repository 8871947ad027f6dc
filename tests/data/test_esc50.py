"""ESC-50 loader: official folds, ESC-10 subset, source-recording groups, malformed metadata."""

from __future__ import annotations

import shutil

import pytest
from layouts import ESC_CLASSES

from audiocl.data import LayoutError, load_task


def test_folds_and_classes(esc_root):
    task = load_task("esc50", esc_root)
    assert task.folds == [1, 2, 3, 4, 5] and not task.multilabel
    assert task.classes == [c for _, c, _ in ESC_CLASSES]
    assert len(task.items) == len(ESC_CLASSES) * 5 * 2
    for fold in task.folds:
        assert len(task.select(folds=[fold])) == len(ESC_CLASSES) * 2
    for it in task.items:
        fold, src, _, target = it.path.stem.split("-")
        assert it.fold == int(fold) and it.split is None and it.group == src
        assert it.path.is_file()
        assert [t for t, _, _ in ESC_CLASSES][it.target] == int(target)
    folds_of = {}
    for it in task.items:
        folds_of.setdefault(it.group, set()).add(it.fold)
    assert all(len(f) == 1 for f in folds_of.values())


def test_esc10(esc_root):
    task = load_task("esc50", esc_root, esc10=True)
    assert task.classes == [c for _, c, e in ESC_CLASSES if e]
    assert sorted({it.target for it in task.items}) == [0, 1, 2, 3]
    assert len(task.items) == 4 * 10 and task.name == "esc10"


def test_missing_meta_is_named(tmp_path):
    (tmp_path / "audio").mkdir()
    with pytest.raises(LayoutError, match="esc50.csv"):
        load_task("esc50", tmp_path)


def test_missing_column_is_named(tmp_path, esc_root):
    shutil.copytree(esc_root, tmp_path / "esc")
    meta = tmp_path / "esc" / "meta" / "esc50.csv"
    meta.write_text(meta.read_text().replace("src_file", "source"))
    with pytest.raises(LayoutError, match="src_file"):
        load_task("esc50", tmp_path / "esc")
