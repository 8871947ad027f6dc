"""Shared test setup.

Helpers shared across test folders are plain modules here: ``layouts`` (miniatures of the official data-set
layouts) and ``signals`` (test signals). This conftest puts ``tests/`` on ``sys.path`` for the test modules in
subfolders, so they import them the same way.
"""

import pytest


@pytest.fixture(autouse=True)
def embedding_cache_in_tmp(tmp_path_factory, monkeypatch):
    # `audiocl probe` caches embeddings by default: tests never write to the user's ~/.cache, nor share entries.
    monkeypatch.setenv("AUDIOCL_CACHE_DIR", str(tmp_path_factory.mktemp("embedding-cache")))
