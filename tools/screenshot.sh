#!/usr/bin/env bash
# Pictures of TerraLens in a real QGIS window under Xvfb, into docs/: the message when
# onnxruntime is missing (a QGIS without it), then the Models dialog, a labelled raster and the
# Search panel with "More like this" (a QGIS with the QGIS venv's onnxruntime). Needs xvfb
# (make setup installs it).
# Usage: tools/screenshot.sh [RASTER] [OUT_DIR]   (env: TERRALENS_SHOT_MODEL, _QUERY, _LABELS)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
RASTER="${1:-$ROOT/demo/data/ucm_mosaic.tif}"
OUT="$(realpath -m "${2:-$ROOT/docs}")"
export TERRALENS_SHOT_MODEL="${TERRALENS_SHOT_MODEL:-$ROOT/models/terralens-effnet-minilm-v1}"
# the 21 UC Merced classes in plain words (the demo mosaic holds 25 held-out UCM scenes)
export TERRALENS_SHOT_LABELS="${TERRALENS_SHOT_LABELS:-agricultural field, airplane, baseball diamond, beach, buildings, chaparral, dense residential area, forest, freeway, golf course, harbor, intersection, medium residential area, mobile home park, overpass, parking lot, river, runway, sparse residential area, storage tanks, tennis court}"

for tool in xvfb-run qgis.bin; do
    command -v "$tool" >/dev/null || { echo "missing $tool: make setup installs QGIS and xvfb" >&2; exit 1; }
done
[ -f "$RASTER" ] || { echo "no raster at $RASTER" >&2; exit 1; }
mkdir -p "$OUT"

# run_qgis SCENES [PYTHONPATH]: a throw-away profile with the plugin linked in and enabled
run_qgis() {
    local home profile
    home="$(mktemp -d)"
    profile="$home/.local/share/QGIS/QGIS3/profiles/default"
    mkdir -p "$profile/python/plugins" "$profile/QGIS"
    ln -s "$ROOT" "$profile/python/plugins/terralens"
    printf '[PythonPlugins]\nterralens=true\n\n[qgis]\ncheckVersion=false\nshowTips=false\n' \
        > "$profile/QGIS/QGIS3.ini"
    env -u PYTHONPATH ${2:+PYTHONPATH="$2"} HOME="$home" XDG_CACHE_HOME="$home/cache" \
        XDG_RUNTIME_DIR="$home/run" TERRALENS_SHOT_DIR="$OUT" TERRALENS_SHOT_SCENES="$1" \
        timeout 400 xvfb-run -a -s "-screen 0 1400x900x24" \
        qgis.bin --nologo --noversioncheck --code "$ROOT/tools/screenshot_qgis.py" "$RASTER" \
        >"$home/qgis.log" 2>&1 || true
    grep "TerraLens screenshot" "$home/qgis.log" || { tail -30 "$home/qgis.log" >&2; }
    rm -rf "$home"
}

SITE="$("$ROOT/.venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
run_qgis missing
run_qgis models,labels,search,like "$SITE"
rm -f "$OUT/shot-labels.gpkg"
for scene in missing models labels search like; do
    [ -s "$OUT/screenshot-$scene.png" ] || { echo "no picture of $scene" >&2; exit 1; }
    # 256 colours keep a screenshot near 250 kB instead of 850 kB (every file travels)
    "$ROOT/.venv/bin/python" -c 'import sys; from PIL import Image; p = sys.argv[1]; Image.open(p).convert("RGB").quantize(256).save(p, optimize=True)' "$OUT/screenshot-$scene.png"
    echo "$OUT/screenshot-$scene.png"
done
