"""Data sets: pretraining crops (files or a decode-once cache) and evaluation tasks in official layouts.

Pretraining::

    files = pretrain_files("magnatagatune", "/data/mtat")             # or "folder", "csv", "cache", ...
    ds = ClipDataset(files, sample_rate=22050, clip_samples=2 * 59049)   # decode + random long crop
    prepare("magnatagatune", "/data/mtat", "/cache/mtat", sample_rate=22050)   # once; then
    ds = CachedClipDataset("/cache/mtat", clip_samples=2 * 59049)        # crops from memory-mapped shards

Evaluation::

    task = load_task("speech_commands", "/data/sc_v2", convention="12")
    task.select(split="train"), task.targets(), task.classes

>>> from audiocl.data import load_task, ClipDataset, prepare        # doctest: +SKIP
"""

from audiocl.data.cache import CachedClipDataset, PrepareReport, prepare
from audiocl.data.clips import ClipDataset
from audiocl.data.files import PRETRAIN_DATASETS, pretrain_files
from audiocl.data.folder import list_audio, list_inputs, read_file_list
from audiocl.data.task import TASKS, Item, LayoutError, Task, load_task

__all__ = [
    "CachedClipDataset",
    "ClipDataset",
    "Item",
    "LayoutError",
    "PRETRAIN_DATASETS",
    "PrepareReport",
    "TASKS",
    "Task",
    "list_audio",
    "list_inputs",
    "load_task",
    "pretrain_files",
    "prepare",
    "read_file_list",
]
