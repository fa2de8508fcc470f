from __future__ import annotations

import shutil

from pixelperfecter_ml.dataset import MANIFEST, prepare_dataset, read_manifest

from .conftest import write_feedback


def test_prepare_sources_labels_and_targets(tiny_data):
    rows = read_manifest(tiny_data / MANIFEST)
    by_source = {}
    for r in rows:
        by_source.setdefault(r.source, []).append(r)
    assert len(by_source["synthetic"]) == 24
    assert len(by_source["weak"]) == 1 and by_source["weak"][0].note == "heuristic"
    human = by_source["human"]
    assert sorted(r.label for r in human) == ["negative", "positive", "positive"]
    # The grid actually used: columns, or the overrides JSON when the columns are empty.
    assert sorted(r.cell_w for r in human if r.label == "positive") == [8.0, 10.0]
    assert [r.cell_w for r in human if r.label == "negative"] == [5.0]
    for r in rows:
        assert all(0.0 <= t <= 1.0 for t in r.target)
        assert abs(r.target[0] - min(r.cell_w / 256, 1.0)) < 1e-9
        assert (tiny_data / r.crop).exists()


def test_prepare_is_incremental(tmp_path, real_images):
    log = tmp_path / "feedback_log.csv"
    rows = [{"image": str(real_images[0]), "verdict": "correct", "cell_w": "8", "cell_h": "8", "source": "tui"}]
    write_feedback(log, rows)
    data = tmp_path / "data"
    first = prepare_dataset(data, feedback_log=log, input_dir=None, synthetic=6, seed=1)
    assert sum(first.added.values()) == 7
    before = (data / MANIFEST).read_text()
    second = prepare_dataset(data, feedback_log=log, input_dir=None, synthetic=6, seed=1)
    assert sum(second.added.values()) == 0 and second.kept == 7
    assert (data / MANIFEST).read_text() == before
    # The TUI logs an accepted and a rejected ML suggestion: both become labels.
    rows += [
        {"image": str(real_images[1]), "verdict": "correct", "cell_w": "10", "cell_h": "10", "offset_x": "2", "offset_y": "3", "source": "ml-suggestion"},
        {"image": str(real_images[2]), "verdict": "incorrect", "cell_w": "6", "cell_h": "6", "source": "ml-suggestion"},
        {"image": str(real_images[2]), "verdict": "incorrect", "cell_w": "7", "cell_h": "7", "source": "tui"},  # no grid info -> ignored
    ]
    write_feedback(log, rows)
    third = prepare_dataset(data, feedback_log=log, input_dir=None, synthetic=6, seed=1)
    assert third.added == {"human": 2, "synthetic": 0, "weak": 0}
    labels = sorted((r.label, r.cell_w) for r in read_manifest(data / MANIFEST) if r.source == "human")
    assert labels == [("negative", 6.0), ("positive", 8.0), ("positive", 10.0)]


def test_lost_manifest_reuses_cached_synthetic_files(tmp_path):
    data = tmp_path / "data"
    prepare_dataset(data, feedback_log=None, input_dir=None, synthetic=8, seed=2)
    before = {r.key: (r.cell_w, r.offset_x, r.content_hash) for r in read_manifest(data / MANIFEST)}
    (data / MANIFEST).unlink()
    prepare_dataset(data, feedback_log=None, input_dir=None, synthetic=8, seed=2)
    after = {r.key: (r.cell_w, r.offset_x, r.content_hash) for r in read_manifest(data / MANIFEST)}
    assert after.keys() == before.keys()
    for k in before:
        assert abs(after[k][0] - before[k][0]) < 1e-9 and abs(after[k][1] - before[k][1]) < 1e-9
        assert after[k][2] == before[k][2]


def test_splits_are_stratified_by_source_and_stable(tmp_path, real_images):
    log = tmp_path / "log.csv"
    write_feedback(log, [{"image": str(p), "verdict": "correct", "cell_w": "8", "cell_h": "8", "source": "tui"} for p in real_images])
    inputs = tmp_path / "input"
    inputs.mkdir()
    for p in real_images[:2]:
        shutil.copy(p, inputs / p.name)
    data = tmp_path / "data"
    prepare_dataset(data, feedback_log=log, input_dir=inputs, synthetic=16, seed=5, val_fraction=0.25)
    rows = read_manifest(data / MANIFEST)
    for source in ("human", "synthetic", "weak"):
        group = [r for r in rows if r.source == source]
        n_val = sum(r.split == "val" for r in group)
        assert n_val >= 1, source
        assert abs(n_val - 0.25 * len(group)) <= 1, (source, n_val, len(group))
    splits = {r.key: r.split for r in rows}
    prepare_dataset(data, feedback_log=log, input_dir=inputs, synthetic=28, seed=5, val_fraction=0.25)
    rows2 = read_manifest(data / MANIFEST)
    assert all(splits[r.key] == r.split for r in rows2 if r.key in splits)
    syn = [r for r in rows2 if r.source == "synthetic"]
    assert abs(sum(r.split == "val" for r in syn) - 7) <= 1


def test_synthetic_cache_is_the_same_on_the_local_pool(tmp_path):
    """`ml prepare --workers 2` runs the cache on the shared runner: same files, same manifest."""
    one, two = tmp_path / "one", tmp_path / "two"
    prepare_dataset(one, feedback_log=None, input_dir=None, synthetic=6, seed=4)
    prepare_dataset(two, feedback_log=None, input_dir=None, synthetic=6, seed=4, workers=2)
    rows_one = [(r.key, r.content_hash, r.split) for r in read_manifest(one / MANIFEST)]
    rows_two = [(r.key, r.content_hash, r.split) for r in read_manifest(two / MANIFEST)]
    assert rows_one == rows_two and len(rows_one) == 6
