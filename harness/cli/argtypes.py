"""The command line's argument types: each turns a string into a value or says, in a usage
error, what was expected."""

from __future__ import annotations

import argparse
import math
import tempfile
from collections.abc import Callable
from pathlib import Path

from harness.specs.variants import parse_reference


def named_shape(text: str) -> tuple[str | None, tuple[int, ...]]:
    name, sep, sizes = text.rpartition("=")
    try:
        shape = tuple(int(d) for d in sizes.split(","))
    except ValueError:
        shape = ()
    if not shape or min(shape) < 1 or (sep and not name):
        raise argparse.ArgumentTypeError(
            f"{text!r}: give positive sizes like 1,224,224,3 (or NAME=1,224,224,3)"
        )
    return (name or None), shape


def positive(unit: str) -> Callable[[str], float]:
    """An argparse type: a finite number > 0 of `unit`, else the sentence saying so."""
    """An argparse type: a finite number > 0 of `unit`, else the sentence saying so."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if not 0 < value < float("inf"):
            raise argparse.ArgumentTypeError(f"{text!r}: a number of {unit} > 0")
        return value

    return parse


seconds = positive("seconds")


def megabytes(text: str) -> float:
    value = positive("megabytes")(text)
    if value * (1 << 20) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: a cap of less than one byte")
    return value


def reference_side(text: str) -> str:
    try:
        return parse_reference(text).name
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r}: a share from 0 to 1, e.g. 0.9")
    return value


def value_range(text: str) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give LO,HI like 0,255") from None
    if not low < high or not all(map(math.isfinite, (low, high))):
        raise argparse.ArgumentTypeError(f"{text!r}: LO must be below HI, both finite")
    return low, high


def check_writable(folder: Path, option: str = "--out", what: str = "the report") -> None:
    """A folder the command will write must take it before anything runs: a usage error
    (ValueError naming the option), not a lost report or store."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise ValueError(f"{option} {folder}: cannot write {what} there ({e.strerror})") from None
