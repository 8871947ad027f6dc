"""Probe heads on frozen embeddings: linear (:mod:`.linear`); each takes rows or per-item chunks."""
