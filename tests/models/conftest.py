"""Fixtures for the encoder tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """Run on one intra-op thread, then restore. The test inputs are tiny, so two threads spend more time
    synchronising than computing, and far more so on a loaded CI machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
