"""Every figure a new image encoder needs before it can replace the default model, in order.

    .venv/bin/python tools/model_figures.py --bundle runs/gpu-x/bundle --out runs/gpu-x/figures \
        --recalls 42.2,45.0                  # the choice only (AID validation images)
    .venv/bin/python tools/model_figures.py ... --held-out   # then, once chosen, the rest

The protocol of `../shared/data/DATA.md` is that a model is chosen on validation images and
measured on held-out ones once, after. So without `--held-out` only the validation steps run:
`encoder-select` (its rule, written before any run, compares the candidate with the default
model on AID validation images), the calibration of refined scores (`score-select`) and the
largest enlargement of the automatic scale (`scale_bench.py --validation` on the AID validation
mosaics); the last two record their choice in the candidate's bundle (`--write`), so the
held-out steps measure the model as it would ship. With
`--held-out` the held-out measurements follow: the evaluator at 1 and 3 rotations (UC Merced,
RSSCN7, retrieval, kNN, k-shot, SpaceNet IoU), the mask validation sets (`mask-select`), the
scale benchmark, change detection and search by example on their test splits, and the mask
pictures. Each step's output goes to OUT/<step>.json (stderr to OUT/<step>.log), and
OUT/summary.json lists the commands, their exit status and seconds. The default model is never
changed here: moving the bundle into `models/` and writing the model card stay by hand.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = ROOT / "models" / "terralens-effnet-minilm-v1"
TRAINING = [sys.executable, "-m", "training"]


def plan(bundle, out, held_out=False, recalls=None):
    """[(step name, argv, held out?)] in the order they must run."""
    bundle, out = str(Path(bundle).resolve()), Path(out)
    select = [*TRAINING, "encoder-select", "--current", str(DEFAULT_MODEL),
              "--candidate", bundle]
    if recalls:
        select += ["--current-recall", f"{recalls[0]:g}", "--candidate-recall",
                   f"{recalls[1]:g}"]
    tool = [sys.executable]
    steps = [("encoder_select", select, False),
             ("score_select", [*TRAINING, "score-select", "--bundle", bundle, "--write"], False),
             ("scale_select", [*tool, "tools/scale_bench.py", "--sets", "aid-val", "--validation",
                               "--bundle", bundle, "--write"], False)]
    if not held_out:
        return steps
    return steps + [
        ("evaluate_1view", [*TRAINING, "evaluate", "--bundle", bundle, "--views", "1",
                            "--quiet"], True),
        ("evaluate_3views", [*TRAINING, "evaluate", "--bundle", bundle, "--views", "3",
                             "--tasks", "zeroshot,transductive,knn,fewshot", "--quiet"], True),
        ("mask_select", [*TRAINING, "mask-select", "--bundle", bundle], True),
        ("scale_bench", [*tool, "tools/scale_bench.py", "--bundle", bundle], True),
        ("change_test", [*tool, "tools/eval_change.py", "--split", "test", "--bundle", bundle],
         True),
        ("example_search_test", [*tool, "tools/eval_example_search.py", "--split", "test",
                                 "--bundle", bundle], True),
        ("mask_pictures", [*tool, "tools/mask_figures.py", "--bundle", bundle, "--out",
                           str(out / "mask_pictures")], True)]


def run_steps(steps, out):
    """Run each step from the repository root; a failed step is recorded, the rest still run."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = []
    for name, argv, held_out in steps:
        started = time.perf_counter()
        with open(out / f"{name}.json", "w", encoding="utf-8") as stdout, \
                open(out / f"{name}.log", "w", encoding="utf-8") as stderr:
            status = subprocess.run(argv, cwd=ROOT, stdout=stdout, stderr=stderr).returncode
        seconds = round(time.perf_counter() - started, 1)
        summary.append({"step": name, "held_out": held_out, "command": argv,
                        "returncode": status, "seconds": seconds})
        print(f"{name}: {'ok' if status == 0 else f'failed ({status})'} in {seconds} s",
              file=sys.stderr, flush=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", required=True, help="the candidate model bundle folder")
    parser.add_argument("--out", required=True, help="folder for the JSON figures")
    parser.add_argument("--recalls", help="held-out train mean recall of the default model and "
                                          "of the candidate, e.g. 42.2,45.0 (their best.json)")
    parser.add_argument("--held-out", action="store_true",
                        help="also the held-out measurements (only once the candidate is chosen)")
    parser.add_argument("--dry-run", action="store_true", help="print the commands only")
    args = parser.parse_args(argv)
    recalls = [float(v) for v in args.recalls.split(",")] if args.recalls else None
    steps = plan(args.bundle, args.out, args.held_out, recalls)
    if args.dry_run:
        print(json.dumps([{"step": n, "command": a, "held_out": h} for n, a, h in steps],
                         indent=2))
        return 0
    return 0 if all(s["returncode"] == 0 for s in run_steps(steps, args.out)) else 1


if __name__ == "__main__":
    sys.exit(main())
