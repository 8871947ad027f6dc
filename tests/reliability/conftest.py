"""Fixtures of the reliability suite: the messy corpus (see ``tests/messy.py``), a private copy, and a folder
where no file is audio."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from messy import make_messy_corpus


@pytest.fixture(scope="session")
def messy_corpus(tmp_path_factory) -> Path:
    return make_messy_corpus(tmp_path_factory.mktemp("messy"))


@pytest.fixture()
def messy_copy(messy_corpus, tmp_path) -> Path:
    """A private copy that a test may change (links copied as links)."""
    return Path(shutil.copytree(messy_corpus, tmp_path / "messy", symlinks=True))


@pytest.fixture(scope="session")
def unreadable_folder(tmp_path_factory) -> Path:
    """A folder where every file has an audio suffix and none is audio."""
    root = tmp_path_factory.mktemp("unreadable")
    for name, data in [("a.wav", b""), ("b.wav", b"RIFF\x00\x00\x00\x00WAVEjunk"), ("c.flac", b"fLaC" + bytes(100))]:
        (root / name).write_bytes(data)
    return root
