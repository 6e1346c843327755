#!/usr/bin/env bash
# Regenerate docs/screenshot-search.png: a real QGIS window under Xvfb, a raster, the TerraLens
# Search panel and its ranked results. Needs xvfb and imagemagick (apt-get install -y xvfb
# imagemagick) and the QGIS-side venv .venv (for onnxruntime).
# Usage: tools/screenshot.sh [RASTER] [OUT.png]   (env: TERRALENS_SHOT_MODEL, TERRALENS_SHOT_QUERY)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
RASTER="${1:-$ROOT/demo/data/ucm_mosaic.tif}"
OUT="$(realpath -m "${2:-$ROOT/docs/screenshot-search.png}")"
MODEL="${TERRALENS_SHOT_MODEL:-$ROOT/models/terralens-effnet-minilm-v1}"
QUERY="${TERRALENS_SHOT_QUERY:-airplanes parked beside a terminal}"

for tool in xvfb-run import qgis.bin; do
    command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y xvfb imagemagick qgis" >&2; exit 1; }
done
[ -f "$RASTER" ] || { echo "no raster at $RASTER" >&2; exit 1; }

# a throw-away HOME whose default QGIS profile has the plugin linked in and enabled
SHOT_HOME="$(mktemp -d)"
trap 'rm -rf "$SHOT_HOME"' EXIT
PROFILE="$SHOT_HOME/.local/share/QGIS/QGIS3/profiles/default"
mkdir -p "$PROFILE/python/plugins" "$PROFILE/QGIS"
ln -s "$ROOT" "$PROFILE/python/plugins/terralens"
cat > "$PROFILE/QGIS/QGIS3.ini" <<INI
[PythonPlugins]
terralens=true

[qgis]
checkVersion=false
showTips=false
INI

SITE="$("$ROOT/.venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
mkdir -p "$(dirname "$OUT")"
rm -f "$OUT"
HOME="$SHOT_HOME" XDG_CACHE_HOME="$SHOT_HOME/cache" XDG_RUNTIME_DIR="$SHOT_HOME/run" \
PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}" \
TERRALENS_SHOT_OUT="$OUT" TERRALENS_SHOT_MODEL="$MODEL" TERRALENS_SHOT_QUERY="$QUERY" \
    timeout 300 xvfb-run -a -s "-screen 0 1400x900x24" \
    qgis.bin --nologo --noversioncheck --code "$ROOT/tools/screenshot_qgis.py" "$RASTER" \
    >"$SHOT_HOME/qgis.log" 2>&1 || true
if [ ! -s "$OUT" ]; then
    echo "no screenshot was written; QGIS said:" >&2
    tail -40 "$SHOT_HOME/qgis.log" >&2
    exit 1
fi
echo "$OUT"
