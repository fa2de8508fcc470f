import json

import numpy as np
import pytest

from pixelperfecter.core import atlas
from pixelperfecter.core.pipeline import finish_colors
from pixelperfecter.core.types import ReconstructParams


def _sprite(w: int, h: int, value: int) -> np.ndarray:
    s = np.zeros((h, w, 4), np.uint8)
    s[..., :3] = value
    s[..., 3] = 255
    return s


def test_strip_compose_and_json_rects_point_at_each_sprite() -> None:
    sprites = [_sprite(3, 2, 10), _sprite(4, 5, 200), _sprite(1, 1, 90)]
    positions = atlas.strip_positions(sprites, gap=1)
    assert positions == [(0, 0), (4, 0), (9, 0)]
    sheet = atlas.compose(sprites, positions)
    assert sheet.shape == (5, 10, 4)
    frames = atlas.frames_for(sprites, positions, ["a", "b", "c"], [50, 60, 70])
    doc = json.loads(json.dumps(atlas.aseprite_json(frames, "sheet.png", (sheet.shape[1], sheet.shape[0]))))
    assert doc["meta"]["size"] == {"w": 10, "h": 5}
    for name, sprite in zip("abc", sprites):
        r = doc["frames"][name]["frame"]
        assert np.array_equal(sheet[r["y"]:r["y"] + r["h"], r["x"]:r["x"] + r["w"]], sprite)
    assert [doc["frames"][n]["duration"] for n in "abc"] == [50, 60, 70]
    assert sheet[4, 0, 3] == 0  # below the short sprite: transparent


def test_compose_rejects_sprites_off_the_sheet_and_json_duplicate_names() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        atlas.compose([_sprite(3, 3, 1)], [(2, 0)], size=(4, 4))
    frames = [atlas.AtlasFrame("a", 0, 0, 1, 1), atlas.AtlasFrame("a", 1, 0, 1, 1)]
    with pytest.raises(ValueError, match="unique"):
        atlas.aseprite_json(frames, "s.png", (2, 1))


def test_finish_colors_over_several_sprites_unifies_across_them() -> None:
    # The same shade, 2 levels apart in two sprites: joint unification gives both one value,
    # while each sprite alone keeps its own.
    a, b = _sprite(4, 4, 100), _sprite(4, 4, 102)
    a[0, 0, :3] = 101
    params = ReconstructParams()
    alone = [finish_colors([s], params)[0] for s in (a, b)]
    assert alone[0][1, 1, 0] != alone[1][1, 1, 0]
    joint = finish_colors([a, b], params)
    assert joint[0].shape == a.shape and joint[1].shape == b.shape
    assert len({int(v) for s in joint for v in s[..., 0].ravel()}) == 1
    assert finish_colors([a], ReconstructParams(cleanup_colors=False))[0] is a
