"""Third-party TF.js models shipped inside npm packages, as model.json + weight files.

nsfwjs 4.4.0 (MIT, web/package-lock.json) ships its models as UMD JavaScript modules: the
model's JSON as an object, each weight shard as a base64 string
(`dist/models/<name>/model.min.js`, `group1-shardKofN.min.js`). Node evaluates them (the
modules define `module.exports` under CommonJS) and the files are written once into the cache,
named by the package's version, so a run reads the very bytes the package ships.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from harness.conversion import models
from harness.core import folders, paths

NSFWJS_MODELS = ("mobilenet_v2", "mobilenet_v2_mid", "inception_v3")

_EXTRACT = """
const [dir, out] = process.argv.slice(1);
const fs = require('fs');
const path = require('path');
const spec = require(path.join(dir, 'model.min.js'));
for (const group of spec.weightsManifest) {
  for (const shard of group.paths) {
    const b64 = require(path.join(dir, shard + '.min.js'));
    fs.writeFileSync(path.join(out, shard), Buffer.from(b64, 'base64'));
  }
}
fs.writeFileSync(path.join(out, 'model.json'), JSON.stringify(spec));
"""


class NpmModelError(RuntimeError):
    """The package or model is not installed, or its modules could not be read."""


def nsfwjs_model(name: str = "mobilenet_v2") -> Path:
    """The model.json of one of nsfwjs's models, with its weight files beside it."""
    if name not in NSFWJS_MODELS:
        raise NpmModelError(f"nsfwjs has no model {name!r}; it has {', '.join(NSFWJS_MODELS)}")
    package = paths.NODE_MODULES / "nsfwjs"
    try:
        version = json.loads((package / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError) as e:
        raise NpmModelError(f"nsfwjs is not installed under {paths.NODE_MODULES} ({e})") from e
    out = models.CACHE / "npm" / f"nsfwjs-{version}" / name
    if (out / "model.json").is_file():
        return out / "model.json"

    def extract(tmp: Path) -> None:
        done = subprocess.run(
            ["node", "-e", _EXTRACT, str(package / "dist" / "models" / name), str(tmp)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise NpmModelError(f"nsfwjs {name}: node could not read its modules: {done.stderr}")

    folders.publish(out, extract)
    return out / "model.json"
