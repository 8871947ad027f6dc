"""NSynth (Engel et al. 2017): four-second 16 kHz notes with instrument family and pitch labels.

Official layout (the three tar.gz archives extracted side by side)::

    root/nsynth-train/examples.json   {note_str: {"pitch", "instrument_family", "instrument_family_str",
    root/nsynth-train/audio/<note_str>.wav             "instrument_str", ...}, ...}
    root/nsynth-valid/...   root/nsynth-test/...

Targets (``target=``):

- ``"instrument_family"``: the 11 families (bass ... vocal), class index = the official family id.
- ``"pitch"``: MIDI 21-108, the 88 piano keys (class index = pitch - 21); notes outside are left out.

The group of an item is its instrument (``instrument_str``).

>>> task = load_nsynth("/data/nsynth", target="pitch")                     # doctest: +SKIP
>>> task.num_classes                                                       # doctest: +SKIP
88
"""

from __future__ import annotations

import json
from pathlib import Path

from audiocl.data.task import Item, LayoutError, Task, require_audio, require_file

__all__ = ["load_nsynth", "FAMILIES", "PITCH_RANGE"]

FAMILIES = ["bass", "brass", "flute", "guitar", "keyboard", "mallet", "organ", "reed", "string", "synth_lead", "vocal"]
PITCH_RANGE = (21, 108)  # inclusive, MIDI
SPLIT_DIRS = {"train": "nsynth-train", "valid": "nsynth-valid", "test": "nsynth-test"}


def load_nsynth(root: str | Path, *, target: str = "instrument_family") -> Task:
    """NSynth as a single-label task on ``"instrument_family"`` (11 classes) or ``"pitch"`` (88 classes).

    Args:
        root: folder holding ``nsynth-train/``, ``nsynth-valid/`` and ``nsynth-test/``.
        target: "instrument_family" or "pitch".
    """
    if target not in ("instrument_family", "pitch"):
        raise ValueError(f"target must be 'instrument_family' or 'pitch', got {target!r}")
    root = Path(root)
    lo, hi = PITCH_RANGE
    items = []
    for split, folder in SPLIT_DIRS.items():
        meta_path = require_file(root / folder / "examples.json", f"NSynth {split} metadata")
        meta = json.loads(meta_path.read_text())
        for note_str in sorted(meta):
            ex = meta[note_str]
            try:
                value = int(ex[target])
                group = ex.get("instrument_str")
            except KeyError as e:
                raise LayoutError(f"{meta_path}: example {note_str!r} has no key {e.args[0]!r}") from e
            if target == "pitch":
                if not lo <= value <= hi:
                    continue
                value -= lo
            items.append(Item(root / folder / "audio" / f"{note_str}.wav", value, split=split, group=group))
        require_audio([it for it in items if it.split == split], meta_path)
    classes = FAMILIES if target == "instrument_family" else [str(p) for p in range(lo, hi + 1)]
    notes = (
        "instrument family, 11 classes" if target == "instrument_family" else f"pitch, MIDI {lo}-{hi} (88 classes)"
    ) + "; official train/valid/test"
    return Task(f"nsynth_{target}", items, list(classes), multilabel=False, notes=notes, options={"target": target})
