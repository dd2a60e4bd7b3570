"""Recorded references: the Python side's outputs written once (on the machine that has the GPU
and TensorFlow) with their provenance, and read back where there is neither."""
