#!/usr/bin/env bash
# Trains on the device tool's GPU machine: the command `tools/gpu_job.py prepare` prints runs it.
# Needs the carried pack and .gpu/ (site.zip, init checkpoint); writes <recipe>/best.safetensors,
# best.json, log.jsonl and remote.log under $OUT. A CPU dry run: PYTHON=.venv-train/bin/python
# OUT=/tmp/out GPU_ALLOW_CPU=1 GPU_MAX_STEPS=2 GPU_LIMIT_IMAGES=64 bash tools/gpu_remote.sh
set -uo pipefail
: "${OUT:?OUT, the folder whose files come back, is not set}"
PYTHON=${PYTHON:-python3}
PACK=${GPU_PACK:-packs/rsicd-aid-train-128.pack}
INIT=${GPU_INIT:-.gpu/init-128.safetensors}
RECIPES=${GPU_RECIPES:-default mim}
BUDGET_S=${GPU_BUDGET_S:-540}  # all training; the call's limit is 600 s
SITE_ZIP=${GPU_SITE_ZIP:-.gpu/site.zip}
SITE=${GPU_SITE:-/tmp/terralens-site}
WORK=${GPU_WORK:-/tmp/terralens-runs}
started=$(date +%s)

main() {
  # Code the machine lacks: open_clip, ftfy, wcwidth; open_clip's BPE file travels in the tree.
  mkdir -p "$WORK" && rm -rf "$SITE" && "$PYTHON" -m zipfile -e "$SITE_ZIP" "$SITE" || return 1
  bpe=plugin/core/tokenizers/data/bpe_simple_vocab_16e6.txt.gz
  [ -f "$SITE/open_clip/${bpe##*/}" ] || cp "$bpe" "$SITE/open_clip/" || return 1
  mkdir -p .pkg && ln -sfn .. .pkg/terralens  # the `terralens` import (.pkg/ does not travel)
  export PYTHONPATH="$SITE:$PWD/.pkg:$PWD${PYTHONPATH:+:$PYTHONPATH}"
  export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1

  cuda_flag=--require-cuda
  [ "${GPU_ALLOW_CPU:-0}" = 1 ] && cuda_flag=
  nvidia-smi -L 2>/dev/null
  "$PYTHON" tools/gpu_job.py preflight --pack "$PACK" --init "$INIT" $cuda_flag || return 1

  extra=()
  for s in ${GPU_SET:-}; do extra+=(--set "$s"); done
  [ -n "${GPU_MAX_STEPS:-}" ] && extra+=(--max-steps "$GPU_MAX_STEPS")
  [ -n "${GPU_LIMIT_IMAGES:-}" ] && extra+=(--limit-images "$GPU_LIMIT_IMAGES")
  read -r -a recipes <<< "$RECIPES"
  failed=0 left=${#recipes[@]} runs=()
  for recipe in "${recipes[@]}"; do
    # Each run gets an equal share of what is left; best.safetensors is saved every epoch, so a
    # run cut off by its share still brings back its best epoch so far.
    share=$(( (BUDGET_S - ($(date +%s) - started)) / left )); left=$((left - 1))
    if [ "$share" -lt 20 ]; then echo "skip $recipe: ${share}s left"; failed=1; continue; fi
    echo "== $recipe (at most ${share}s)"
    rm -rf "${WORK:?}/$recipe"
    timeout -s INT -k 20 "$share" "$PYTHON" -m training train --recipe "$recipe" --pack "$PACK" \
      --out "$WORK/$recipe" --set model.pretrained=false --set "model.init_checkpoint=$INIT" \
      "${extra[@]}" > "$WORK.$recipe.out" 2>&1
    rc=$?
    tail -n 25 "$WORK.$recipe.out"
    [ "$rc" -ne 0 ] && echo "$recipe: exit $rc" && failed=1
    mkdir -p "$OUT/$recipe"
    for f in best.safetensors best.json log.jsonl; do
      [ -f "$WORK/$recipe/$f" ] && cp "$WORK/$recipe/$f" "$OUT/$recipe/"
    done
    [ -f "$WORK/$recipe/best.safetensors" ] && runs+=("$WORK/$recipe")
  done
  [ ${#runs[@]} -gt 0 ] && "$PYTHON" tools/gpu_job.py summarize "${runs[@]}"
  echo "total $(( $(date +%s) - started ))s"
  return $failed
}

mkdir -p "$OUT"
main 2>&1 | tee "$OUT/remote.log"  # the log comes back even when the call is cut off
exit "${PIPESTATUS[0]}"
