"""The motivating user's Python preprocessing, as they wrote it, with taps added where they want
the browser compared. `tap` defaults to doing nothing, so the app calls it as before."""

import numpy as np
import pydicom
from skimage.transform import resize

# (BitsStored, PhotometricInterpretation) -> (mean, std)
STATS = {
    (12, "MONOCHROME1"): (-3384.9893000000002, 1190.0708513300835),
    (12, "MONOCHROME2"): (978.31200000000001, 1092.2426342420442),
    (14, "MONOCHROME1"): (-9798.6993999999995, 7104.607118190255),
}


def no_tap(name, tensor):
    pass


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
    x = resize(x, (224, 224))
    tap("resize", x[..., np.newaxis])
    x = np.tile(x[..., np.newaxis], (1, 1, 3))
    tap("tile", x)
    x = x[np.newaxis]
    tap("batch", x)
    return x
