"""Plain data and small helpers every layer uses: results (the report.json contract), runtime
outputs, the tensor wire format, paths, JSON files, versions, lazy TensorFlow. Imports nothing
else of the harness."""
