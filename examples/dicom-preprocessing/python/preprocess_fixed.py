"""The fixed Python side: the same steps, with the resize TF.js can reproduce (bilinear on the
half-pixel grid, no anti-aliasing; tfjs-parity's hint at `resize` names these settings)."""

import numpy as np
import pydicom
from preprocess import STATS, no_tap
from skimage.transform import resize


def preprocess(path, tap=no_tap):
    ds = pydicom.dcmread(path)
    key = (int(ds.BitsStored), str(ds.PhotometricInterpretation))
    if key not in STATS:
        raise ValueError(f"no normalisation for BitsStored={key[0]}, {key[1]}")
    mean, std = STATS[key]
    image = ds.pixel_array.astype(float)
    tap("pixels", image[..., np.newaxis])  # the values entering normalisation, as TF.js's
    x = (image - mean) / std
    tap("normalize", x[..., np.newaxis])
    x = resize(x, (224, 224), order=1, anti_aliasing=False, mode="edge", preserve_range=True)
    tap("resize", x[..., np.newaxis])
    x = np.tile(x[..., np.newaxis], (1, 1, 3))
    tap("tile", x)
    x = x[np.newaxis]
    tap("batch", x)
    return x
