"""What an entry of the catalogue applies to: STEPS, every kind of stage that runs an op (a
step, a custom op, a tap, a layer, a node), and ANY, the empty set, which matches every op or
backend."""

from __future__ import annotations

STEPS = frozenset({"step", "custom", "tap", "layer", "node"})
ANY: frozenset[str] = frozenset()
