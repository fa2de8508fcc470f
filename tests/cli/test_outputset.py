"""The staged output set mirrors core.pipeline.write_outputs exactly (names and bytes)."""

from __future__ import annotations

import pytest

from pixelperfecter import outputset
from pixelperfecter.core import synth
from pixelperfecter.core.pipeline import OutputOptions, reconstruct, write_outputs


def test_staged_and_committed_set_is_byte_identical_to_write_outputs(tmp_path):
    case = synth.make_case(3, "ai")
    rec = reconstruct(case.image, has_alpha=case.has_alpha)
    options = OutputOptions(upscale=4, diff=True, heatmap=True, grid=True)
    direct = write_outputs(rec, tmp_path / "direct", "x", options).as_dict()
    (tmp_path / "staged").mkdir()
    staged = outputset.stage_outputs(rec, tmp_path / "staged", "x", options, "pptest")
    assert all(p.name.startswith(".") and p.name.endswith(".pptest.tmp") for p in (tmp_path / "staged").iterdir())
    committed = outputset.commit(staged)
    assert committed.keys() == direct.keys()
    for kind, path in direct.items():
        assert open(path, "rb").read() == open(committed[kind], "rb").read(), kind
    assert outputset.sweep_temps(tmp_path / "staged", "pptest") == []


def test_a_failed_commit_takes_back_what_it_renamed(tmp_path, monkeypatch):
    case = synth.make_case(4, "clean")
    rec = reconstruct(case.image, has_alpha=case.has_alpha)
    staged = outputset.stage_outputs(rec, tmp_path, "y", OutputOptions(upscale=2, grid=True), "pptag")
    real_replace = outputset.os.replace
    calls = []

    def fail_second(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(outputset.os, "replace", fail_second)
    with pytest.raises(OSError):
        outputset.commit(staged)
    assert list(tmp_path.iterdir()) == []  # neither y.png nor a temp file is left
