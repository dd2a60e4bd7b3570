"""Regenerate web/page/shims/ from a harness page's globals, after upgrading TF.js or
dicom-parser: `python -m harness.update_shims` (opens Chromium on the cpu backend)."""

from __future__ import annotations

from harness.orchestrate.orchestrator import Harness
from harness.runtimes.shims import generated


def main() -> None:
    with Harness(isolated=False, repeat=False, hints=False) as harness:
        shims = generated(harness.backend_page("chromium", "cpu").page)
    for path, text in shims.items():
        path.write_text(text)
        print(path)


if __name__ == "__main__":
    main()
