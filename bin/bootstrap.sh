# Sourced by bin/tfjs-parity and bin/test: installs what is missing, idempotently.
# Debian's browsers (apt), the Python tree from requirements.lock (exact versions, in .venv),
# the npm tree from web/package-lock.json (npm ci). With nothing to install it takes about a second:
# each tree carries a stamp of the lock it was installed from and is reinstalled only when that
# lock changes.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PYTHON="${PYTHON:-python3}"

say() { echo "[setup] $*" >&2; }

apt_install() {
  if [ "$(id -u)" != 0 ]; then
    say "missing: $*. Install them with: sudo apt-get install -y --no-install-recommends $*"
    exit 1
  fi
  say "installing Debian packages: $*"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 ||
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }
}

stamp_of() { cat "$@" | sha256sum | cut -d' ' -f1; }
# pip warns once per package about index folders this machine's pip.conf names but lacks
pip_install() {
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$@" \
    2> >(grep -v "^WARNING: Location 'file://" >&2)
}

# 1. The browsers from Debian (never a downloaded browser): Chromium, which the main job needs;
# Firefox ESR, and WebKitGTK's MiniBrowser with its WebDriver, on Xvfb, the virtual display they
# run on. Without root, a missing Firefox or WebKit is said and left out: runs on it are skipped,
# with that reason. Node.js and npm for the TF.js tree.
[ -x /usr/bin/chromium ] || apt_install chromium
others=()
[ -x /usr/bin/firefox-esr ] || others+=(firefox-esr)
[ -x /usr/bin/WebKitWebDriver ] || others+=(webkit2gtk-driver)
command -v Xvfb >/dev/null || others+=(xvfb)
if [ ${#others[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt_install "${others[@]}"
  else
    say "not installed: ${others[*]} (Firefox and WebKit runs are skipped without them);" \
      "install with: sudo apt-get install -y --no-install-recommends ${others[*]}"
  fi
fi
command -v npm >/dev/null || apt_install nodejs npm

# 2. Python: the whole tree at the exact versions of requirements.lock.
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
  say "Python 3.11 is needed (requirements.lock is for CPython 3.11); set PYTHON=/path/to/python3.11"
  exit 1
fi
want="$(stamp_of "$ROOT/requirements.lock" "$ROOT/pyproject.toml")"
if [ "$(cat "$VENV/.lock-stamp" 2>/dev/null)" != "$want" ]; then
  say "installing the Python environment from requirements.lock into .venv (first time: ~2 min)"
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  pip_install -r "$ROOT/requirements.lock"
  pip_install --no-deps --no-build-isolation -e "$ROOT"
  echo "$want" > "$VENV/.lock-stamp"
fi

# 3. TF.js and its backends, exactly as web/package-lock.json records them.
want="$(stamp_of "$ROOT/web/package-lock.json")"
if [ "$(cat "$ROOT/web/node_modules/.lock-stamp" 2>/dev/null)" != "$want" ]; then
  say "installing TF.js from web/package-lock.json (npm ci)"
  (cd "$ROOT/web" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null)
  echo "$want" > "$ROOT/web/node_modules/.lock-stamp"
fi
