#!/usr/bin/env bash
# Optional: builds headless-gl (`gl` 8.1.6, gpu.js's optional dependency) from source so gpu.js can
# run its `headlessgl` mode, and installs Xvfb so that mode has a display (`xvfb-run -a ...`).
# Idempotent: does nothing when `gl` already loads. Never fails the build: when something is
# missing (no root, no apt, no compiler, build error) it says what and exits 0, and the gpu.js
# tests then skip headlessgl with the reason.
# Takes ~3–4 min on 2 cores (ANGLE compiles from source; no prebuilt binary is downloaded).
set -uo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
log="${TMPDIR:-/tmp}/ec2t-install-gl.log"
: > "$log"
say() { echo "install-gl: $*"; }
give_up() {
  say "$* — headlessgl stays unavailable (gpu.js tests skip it; webasm and cpu modes still run)"
  [ -s "$log" ] && { say "last lines of $log:"; tail -n 15 "$log"; }
  exit 0
}

gl_loads() { node -e "require('gl')" >/dev/null 2>&1; }

pkgs=(xvfb xauth libxi-dev libglu1-mesa-dev libglew-dev pkg-config build-essential python3)
missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
else
  command -v xvfb-run >/dev/null 2>&1 || missing+=(xvfb)
fi
if ((${#missing[@]})); then
  if ! command -v apt-get >/dev/null 2>&1; then give_up "apt-get not found; install by hand: ${missing[*]}"; fi
  SUDO=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO=(sudo -n); else give_up "need root (or passwordless sudo) to install: ${missing[*]}"; fi
  fi
  say "installing Debian packages: ${missing[*]}"
  "${SUDO[@]}" apt-get update -qq >>"$log" 2>&1 || give_up "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq "${missing[@]}" >>"$log" 2>&1 || give_up "apt-get install ${missing[*]} failed"
else
  say "Debian packages already installed"
fi

if gl_loads; then
  say "gl already built and loads ($(node -p "require('gl/package.json').version"))"
else
  say "building gl@8.1.6 from source (npm install --no-save; package.json and the lockfile stay untouched; log: $log)"
  npm install --no-save --no-audit --no-fund gl@8.1.6 >>"$log" 2>&1 || give_up "npm install gl@8.1.6 failed"
  # Some npm versions skip dependency install scripts; build the native addon directly then.
  if ! gl_loads && [ -d node_modules/gl ]; then
    say "gl installed but not built; running node-gyp rebuild in node_modules/gl"
    (cd node_modules/gl && npx --no-install node-gyp rebuild) >>"$log" 2>&1 || give_up "node-gyp rebuild of gl failed"
  fi
  gl_loads || give_up "gl still does not load after the build"
fi

if command -v xvfb-run >/dev/null 2>&1; then
  if xvfb-run -a node -e "const c = require('gl')(2, 2); process.exit(c ? 0 : 1)" >/dev/null 2>&1; then
    say "ok: headless-gl creates a context under xvfb-run -a ($(( $(date +%s) - start )) s)"
  else
    say "gl builds but cannot create a context even under xvfb-run -a ($(( $(date +%s) - start )) s)"
  fi
else
  say "gl built, but xvfb-run is missing: headlessgl needs an X display ($(( $(date +%s) - start )) s)"
fi
exit 0
