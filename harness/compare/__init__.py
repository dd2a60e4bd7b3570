"""The comparator, a pure library: metrics, tolerance policies, float budgets, verdicts, the
first divergence, declared divergences. Imports only harness.core (no ops, runtimes, DICOM)."""
