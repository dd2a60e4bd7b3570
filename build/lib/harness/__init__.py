"""tfjs-parity: compare a TF.js pipeline in real browsers with its Python reference, stage by
stage."""

__version__ = "0.1.0"
