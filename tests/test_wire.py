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
