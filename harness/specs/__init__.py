"""What the user describes: pipeline files, steps and their settings (op schemas), cases,
backend variants, model paths; and the extensions that add ops and kinds of case (found through
entry points, never imported). Imports harness.core and harness.compare (tolerances,
expectations)."""
