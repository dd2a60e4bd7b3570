"""What the user describes: pipeline files, steps and their settings (op schemas), cases,
backend variants, model paths. Imports harness.core, harness.compare (tolerances, expectations)
and harness.dicom (the case loader)."""
