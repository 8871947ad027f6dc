"""Session-wide miniatures of the official layouts (built once, read-only in the tests)."""

from __future__ import annotations

import layouts
import pytest


def _layout(fixture_name: str, make):
    @pytest.fixture(scope="session", name=fixture_name)
    def build(tmp_path_factory):
        return make(tmp_path_factory.mktemp(fixture_name))

    return build


mtat_root = _layout("mtat_root", layouts.make_magnatagatune)
sc_root = _layout("sc_root", layouts.make_speech_commands)
esc_root = _layout("esc_root", layouts.make_esc50)
gtzan_root = _layout("gtzan_root", layouts.make_gtzan)
nsynth_root = _layout("nsynth_root", layouts.make_nsynth)
folder_root = _layout("folder_root", layouts.make_folder)
csv_file = _layout("csv_file", layouts.make_csv)
