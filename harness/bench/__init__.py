"""`tfjs-parity bench`: measured figures, never asserted by tests; one module per benchmark."""
