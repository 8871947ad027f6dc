"""Evaluation of frozen encoders, one stage per file.

- :mod:`audiocl.eval.pipeline`: the front-end + encoder pipeline of a checkpoint, a method or a random init;
- :mod:`audiocl.eval.chunking`: where chunks and crops start, and their timestamps (shared by ``embed`` and
  ``hear``);
- :mod:`audiocl.eval.protocols`: the linear-evaluation protocols (``audiocl``, ``clmr``, ``published``): what
  the head is trained on, with which settings, and how its outputs are aggregated.

The probe that runs them is :func:`audiocl.probe.run_probe`.
"""
