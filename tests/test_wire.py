"""The tensor wire format's two halves agree on shared vectors (fixtures/wire/): the Python one
(harness/core/tensors.py) and the page's (web/page/wire.js, run by Node, no browser needed)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.core import tensors

REPO = Path(__file__).parent.parent
WIRE = REPO / "fixtures" / "wire"
VECTORS = json.loads((WIRE / "vectors.json").read_text())


def _as_manifest(bundle: dict[str, tensors.WireTensor]) -> dict[str, dict]:
    return {
        name: {"dtype": t.dtype, "shape": list(t.shape), "data_hex": bytes(t.data).hex()}
        for name, t in bundle.items()
    }


@pytest.mark.parametrize("vector", sorted(VECTORS))
def test_python_decodes_each_vector_and_packs_it_byte_for_byte(vector: str) -> None:
    data = (WIRE / f"{vector}.bin").read_bytes()
    assert _as_manifest(tensors.unpack(data)) == VECTORS[vector]
    again = {
        name: tensors.WireTensor(t["dtype"], tuple(t["shape"]), bytes.fromhex(t["data_hex"]))
        for name, t in VECTORS[vector].items()
    }
    assert tensors.pack(again) == data


@pytest.fixture(scope="module")
def page_side() -> dict[str, dict]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed (bin/test installs it with npm)")
    done = subprocess.run(
        [node, str(REPO / "tests" / "wire_vectors.mjs")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("vector", sorted(VECTORS))
def test_the_page_decodes_each_vector_as_python_does(page_side, vector: str) -> None:
    assert page_side[vector]["decoded"] == VECTORS[vector]


@pytest.mark.parametrize("vector", sorted(VECTORS))
def test_what_the_page_packs_python_reads_back(page_side, vector: str) -> None:
    packed = bytes.fromhex(page_side[vector]["packed_hex"])
    assert _as_manifest(tensors.unpack(packed)) == VECTORS[vector]


def _bundle(entries: list, payload: bytes = bytes(16)) -> bytes:
    header = json.dumps(entries).encode()
    header += b" " * (-(len(header) + 4) % 8)
    return len(header).to_bytes(4, "little") + header + payload


ONE = {"name": "a", "dtype": "float32", "shape": [2], "offset": 0, "nbytes": 8}


@pytest.mark.parametrize(
    ("entries", "said"),
    [
        ([ONE, {**ONE, "offset": 8}], "appears twice"),
        ([{**ONE, "shape": "12"}], "not a list of integers"),
        ([{**ONE, "shape": [2.0]}], "not a list of integers"),
        ([{**ONE, "shape": [True, 2]}], "not a list of integers"),
        ([{**ONE, "shape": [-1, -2]}], "not a list of integers >= 0"),
        ([{**ONE, "offset": 4}], "a multiple of 8"),
        ([{**ONE, "offset": "0"}], "must be integers"),
        ([{**ONE, "nbytes": 8.0}], "must be integers"),
        ([{**ONE, "shape": [3]}], "is 12 bytes, not 8"),
        ([{**ONE, "offset": 16}], "outside the bundle"),
        ([{**ONE, "name": 3}], "must be strings"),
    ],
)
def test_python_refuses_a_malformed_bundle_saying_how(entries: list, said: str) -> None:
    with pytest.raises(tensors.WireFormatError, match=said):
        tensors.unpack(_bundle(entries))
