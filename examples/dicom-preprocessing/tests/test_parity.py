"""This project's parity tests, as a user writes them with tfjs-parity installed: `pytest` here
runs them on every backend (or `--parity-backend wasm`), and a failure prints the per-stage
table of each case that diverges."""

from pathlib import Path

import pytest

PARITY = Path(__file__).parent.parent / "parity"


@pytest.mark.parity
def test_fixed_preprocessing_matches_python(parity_check):
    parity_check(PARITY / "fixed.json")


@pytest.mark.parity
@pytest.mark.parity_backends("wasm", "cpu")  # the seed's finding does not depend on the backend
def test_seed_preprocessing_diverges_at_resize_as_recorded(parity_check):
    parity_check(PARITY / "seed.json")  # its file expects the first divergence at `resize`
