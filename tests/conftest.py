"""Shared test setup.

Helpers shared across test folders are plain modules here: ``layouts`` (miniatures of the official data-set
layouts) and ``signals`` (test signals). This conftest puts ``tests/`` on ``sys.path`` for the test modules in
subfolders, so they import them the same way.
"""
