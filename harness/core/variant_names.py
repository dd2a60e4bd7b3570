"""How a backend variant's name is written once for comparing: the rule both the specs (which
variant is the reference) and the comparator (which tolerance applies) match names by."""

from __future__ import annotations


def canonical(variant: str) -> str:
    """The name with its options in a fixed order: "wasm:nothreads:nosimd" and
    "wasm:nosimd:nothreads" are one variant. No check of the names (specs.variants does it)."""
    backend, *options = variant.strip().split(":")
    return ":".join([backend, *sorted(options)])
