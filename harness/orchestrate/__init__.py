"""One harness session: which runtimes run which pipeline on which case, in which order and
threads, crash recovery, the reference cache, and suites. Imports diagnose and below."""
