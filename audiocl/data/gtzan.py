"""GTZAN (Tzanetakis & Cook 2002): 1,000 thirty-second clips, 10 genres.

Official layout::

    root/genres/<genre>/<genre>.000NN.au         (the original release: Sun .au files)
    root/genres_original/<genre>/<genre>.000NN.wav   (the Kaggle copy, converted to WAV)

Splits: the fault-filtered split of Kereliuk, Sturm & Larsen (2015), as distributed with dnn-mgr and
sota-music-tagging-models: ``train_filtered.txt``, ``valid_filtered.txt``, ``test_filtered.txt`` with lines
``blues/blues.00012.wav`` (read as the ``.au`` file of the same name where that is what the folder holds),
used when found (in ``split_dir``, ``root``, ``root/split``, ``root/split/gtzan`` or the genres folder; it
drops repeated and mislabelled clips and keeps artists in one split). A folder holding some of the three files
but not all is an error. Without them, a stratified 80/10/10 split per genre (seeded) is used; beware that it
lets an artist span splits, so numbers are optimistic.

>>> task = load_gtzan("/data/gtzan")                                       # doctest: +SKIP
>>> task.classes[:3]                                                       # doctest: +SKIP
['blues', 'classical', 'country']
"""

from __future__ import annotations

from pathlib import Path

from audiocl.data.task import Item, LayoutError, Task, drawn_split_words, require_audio, stratified_splits

__all__ = ["load_gtzan", "GENRES", "SPLIT_FILES"]

GENRES = ["blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock"]
SPLIT_FILES = {"train": "train_filtered.txt", "valid": "valid_filtered.txt", "test": "test_filtered.txt"}


def _genres_dir(root: Path) -> Path:
    for name in ("genres", "genres_original"):
        if (root / name).is_dir():
            return root / name
    if all((root / g).is_dir() for g in GENRES):  # root is the genres folder itself
        return root
    raise LayoutError(f"GTZAN: folder {root / 'genres'} (or {root / 'genres_original'}) not found")


def load_gtzan(
    root: str | Path,
    *,
    split_dir: str | Path | None = None,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
) -> Task:
    """GTZAN as a single-label genre task.

    Args:
        root: folder holding ``genres/`` (or ``genres_original/``).
        split_dir: folder of the fault-filtered split files; searched in ``root``, ``root/split``,
            ``root/split/gtzan`` (sota-music-tagging-models' layout) and the genres folder if None.
        fractions, seed: the stratified split used when there are no split files.
    """
    root = Path(root)
    genres_dir = _genres_dir(root)
    missing = [g for g in GENRES if not (genres_dir / g).is_dir()]
    if missing:
        raise LayoutError(f"GTZAN: genre folder(s) {[str(genres_dir / g) for g in missing]} not found")

    if split_dir is not None:
        candidates = [Path(split_dir).expanduser()]
    else:
        candidates = [root, root / "split", root / "split" / "gtzan", genres_dir]
    found = None
    for d in candidates:
        present = [n for n in SPLIT_FILES.values() if (d / n).is_file()]
        if len(present) == len(SPLIT_FILES):
            found = d
            break
        if present or split_dir is not None:  # a partial split would silently fall back to a leaky one
            absent = next(n for n in SPLIT_FILES.values() if n not in present)
            raise LayoutError(
                f"GTZAN: split file {d / absent} not found (next to {d / present[0]})"
                if present
                else f"GTZAN: split file {d / absent} not found"
            )

    if found is not None:
        items = []
        for split, name in SPLIT_FILES.items():
            for n, line in enumerate((found / name).read_text().splitlines(), start=1):
                rel = line.strip()
                if not rel:
                    continue
                genre = rel.split("/")[0]
                if genre not in GENRES:
                    raise LayoutError(f"{found / name}, line {n}: {rel!r} does not start with a genre folder")
                path = genres_dir / rel
                if not path.is_file() and path.with_suffix(".au").is_file():  # the original release is .au
                    path = path.with_suffix(".au")
                items.append(Item(path, GENRES.index(genre), split=split))
        require_audio(items, found / "*_filtered.txt")
        notes = f"fault-filtered split (Kereliuk et al. 2015) from {found}"
        drawn = None
    else:
        files = [
            f for g in GENRES for f in sorted((genres_dir / g).glob("*.wav")) + sorted((genres_dir / g).glob("*.au"))
        ]
        targets = [GENRES.index(f.parent.name) for f in files]
        splits = stratified_splits(targets, fractions, seed)
        items = [Item(f, t, split=s) for f, t, s in zip(files, targets, splits, strict=True)]
        notes = (
            f"no fault-filtered split files found: stratified split {fractions} per genre, seed {seed} "
            "(artists may span splits)"
        )
        drawn = drawn_split_words("stratified", fractions, seed)
    return Task("gtzan", items, list(GENRES), multilabel=False, notes=notes, drawn_split=drawn)
