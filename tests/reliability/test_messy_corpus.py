"""Every command on the messy corpus: bad files are skipped and listed, good and odd-rate ones are used."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from messy import BAD, GOOD, ODD, TINY

from audiocl.cli import main


def test_prepare_skips_and_lists_every_bad_file(messy_corpus, tmp_path, capsys):
    out = tmp_path / "cache"
    assert main(["prepare", "folder", "--data", str(messy_corpus), "--out", str(out), "--workers", "0",
                 "--no-progress"]) == 0  # fmt: skip
    index = json.loads((out / "index.json").read_text())
    skipped = {s["path"]: s["reason"] for s in index["skipped"]}
    for rel, reason in BAD.items():
        path = str(messy_corpus / rel)  # a link is listed under its own name, not its target's
        assert reason in skipped[path], (rel, skipped.get(path))
    cached = {c["path"]: c["length"] for c in index["clips"]}
    assert set(cached) == {str(messy_corpus / rel) for rel in GOOD + ODD}
    assert all(length == 16000 for length in cached.values())  # 1 s at 16 kHz, odd rates included
    printed = capsys.readouterr().out
    assert f"skipped {len(BAD)} unreadable file(s)" in printed and "loop_a.wav" in printed


@pytest.fixture(scope="module")
def trained(tmp_path_factory, messy_corpus):
    """A 4-step run on the messy corpus (batches of 8 of its 18 files meet most of the bad ones)."""
    run = tmp_path_factory.mktemp("trained")
    assert main(["pretrain", "clmr_tiny", f"data.root={messy_corpus}", f"output_dir={run}", *TINY,
                 "data.batch_size=8"]) == 0  # fmt: skip
    return run


def test_pretrain_skips_and_lists_bad_files(trained):
    assert torch.load(trained / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 4
    listed = (trained / "skipped_files.tsv").read_text()
    assert any(rel.split("/")[1] in listed for rel in BAD)
    assert not any(rel.split("/")[1] in listed for rel in GOOD + ODD)


def test_embed_lists_every_bad_file_and_embeds_the_rest(messy_corpus, trained, tmp_path, capsys):
    out = tmp_path / "emb.npz"
    checkpoint = trained / "checkpoints" / "last.ckpt"
    assert main(["embed", "--checkpoint", str(checkpoint), str(messy_corpus), "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    with np.load(out) as npz:
        paths = set(npz["paths"].tolist())
    assert paths == {str(messy_corpus / rel) for rel in GOOD + ODD}
    for rel in BAD:  # broken and looping links included
        assert f"skipped {messy_corpus / rel}" in printed, rel
