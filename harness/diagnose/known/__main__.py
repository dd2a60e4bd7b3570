"""`python -m harness.diagnose.known`: docs/known-divergences.md on standard output."""

from harness.diagnose.known.docs import catalogue_markdown

print(catalogue_markdown(), end="")
