"""Any image mode Pillow opens loads as float32 RGB with its content intact."""

import numpy as np
import pytest
from PIL import Image

from zpipe.text.image import load_image, to_rgb_array


def _ramp():
    return np.tile(np.linspace(0, 1, 64, dtype=np.float32), (16, 1))


@pytest.mark.parametrize("mode", ["I;16", "I", "F", "L", "1", "P", "CMYK", "LA", "RGBA", "YCbCr"])
def test_every_mode_keeps_its_content(mode):
    ramp = _ramp()
    if mode == "I;16":
        im = Image.fromarray((ramp * 65535).astype(np.uint16))
    elif mode == "I":
        im = Image.fromarray((ramp * 65535).astype(np.int32), "I")
    elif mode == "F":
        im = Image.fromarray(ramp, "F")
    else:
        im = Image.fromarray((ramp * 255).astype(np.uint8), "L").convert(mode)
    out = to_rgb_array(im)
    assert out.shape == (16, 64, 3) and out.dtype == np.float32
    grey = out.mean(axis=2)
    if mode == "1":
        assert grey[:, 0].max() == 0 and grey[:, -1].min() == 1
    else:
        assert abs(float(grey[0, 0]) - 0.0) < 0.03 and abs(float(grey[0, -1]) - 1.0) < 0.03  # not all white


def test_white_text_on_a_clear_background_stays_readable():
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[2:6, 2:6] = 255  # opaque white square on transparent
    out = to_rgb_array(Image.fromarray(rgba, "RGBA"))
    assert out[4, 4].tolist() == [1.0, 1.0, 1.0] and out[0, 0].tolist() == [0.0, 0.0, 0.0]


def test_bad_files_name_the_file(tmp_path):
    with pytest.raises(ValueError, match="image not found"):
        load_image(tmp_path / "none.png")
    (tmp_path / "x.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match=r"x\.png is not an image Pillow can read"):
        load_image(tmp_path / "x.png")
