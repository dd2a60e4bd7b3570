"""The wire format: values survive the trip, bad payloads are refused with a reason."""

import re

import numpy as np
import pytest

from harness.core.tensors import WireFormatError, decode, encode, parse_shape


@pytest.mark.parametrize(
    ("array", "wire"),
    [
        (np.arange(6, dtype=np.float32).reshape(2, 3), "float32"),
        (np.array([0, 4095, 65535], dtype=np.uint16), "int32"),
        (np.array([-5, 7], dtype=np.int16), "int32"),
        (np.array([0, 255], dtype=np.uint8), "uint8"),
        (np.array([True, False]), "bool"),
        (np.array(3.5, dtype=np.float16), "float32"),
    ],
)
def test_encode_keeps_every_value(array, wire):
    t = encode(array)
    assert t.dtype == wire
    back = decode(t.dtype, t.shape, t.data)
    assert back.shape == array.shape
    np.testing.assert_array_equal(back, array)


def test_float64_is_refused_rather_than_rounded():
    with pytest.raises(
        WireFormatError, match=re.escape("cannot be sent to TF.js without rounding")
    ):
        encode(np.zeros(3))


def test_int64_out_of_int32_range_is_refused():
    with pytest.raises(WireFormatError, match=re.escape("do not fit TF.js int32")):
        encode(np.array([2**40]))


def test_decode_checks_byte_count():
    with pytest.raises(WireFormatError, match=r"needs 12 bytes, got 8"):
        decode("float32", (3,), b"\0" * 8)


@pytest.mark.parametrize("bad", ["2,x", "-1,3"])
def test_bad_shapes_are_refused(bad):
    with pytest.raises(WireFormatError):
        parse_shape(bad)


def test_scalar_shape():
    assert parse_shape("") == ()
