"""Writers of a Report: report.json (the contract), the terminal matrix, report.html. Read only
the result objects of harness.core."""
