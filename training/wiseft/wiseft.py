"""Robust fine-tuning (WiSE-FT): fine-tune on captions, mix the weights with the start, evaluate.

    python -m training wiseft --checkpoint runs/cpu-v1/best.safetensors \
        --tsv ../shared/data/captions_ucm.tsv --split train --epochs 3 --out runs/wiseft/ucm
    python -m training wiseft --open-clip-model ViT-B-32 --open-clip-checkpoint x.pt ...

theta(alpha) = (1 - alpha) * theta_start + alpha * theta_finetuned (Wortsman et al., "Robust
fine-tuning of zero-shot models"), evaluated at every `--alphas` value by the DATA.md protocol
(`training.wiseft.evaluate`). Writes `finetuned.*`, `log.jsonl` and `wiseft.json` into `--out`.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from terralens.plugin.core.atomic import atomic_write_text

from ..data.data import default_data_root
from ..train.runtime import JsonlLog
from .tune import (
    WiseFtError,
    build_subject,
    encode_texts,
    finetune,
    load_caption_data,
)

DEFAULT_ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)


def interpolate(start, finetuned, alpha):
    """theta(alpha) = (1 - alpha) * start + alpha * finetuned, tensor by tensor.

    BatchNorm running means and variances are mixed like the weights. They are statistics of
    the features each endpoint's weights produce: keeping the start's would pair the fine-tuned
    weights (alpha = 1) with the wrong statistics, and the features of mixed weights lie between
    the two, so the same mix approximates their statistics (exact at both ends; re-estimating
    them on data for every alpha would be the costlier alternative). Integer counters
    (`num_batches_tracked`) are mixed and rounded. alpha 0 and 1 give the endpoints bit for bit.
    """
    if set(start) != set(finetuned):
        raise WiseFtError(f"the two state dicts hold different tensors: "
                          f"{sorted(set(start) ^ set(finetuned))[:8]}")
    alpha = float(alpha)
    mixed = {}
    for key, first in start.items():
        last = finetuned[key]
        if first.shape != last.shape:
            raise WiseFtError(f"{key}: shapes {tuple(first.shape)} and {tuple(last.shape)}")
        if last.is_floating_point():
            mixed[key] = ((1.0 - alpha) * first.to(last.dtype) + alpha * last)
        else:
            mixed[key] = torch.round((1.0 - alpha) * first.double() + alpha * last.double()
                                     ).to(last.dtype)
    return mixed


def parse_alphas(text):
    """`0,0.25,1` -> (0.0, 0.25, 1.0); every value in [0, 1]."""
    try:
        alphas = tuple(float(a) for a in text.split(",") if a.strip())
    except ValueError:
        raise WiseFtError(f"--alphas must be comma-separated numbers, got {text!r}") from None
    if not alphas or any(not 0.0 <= a <= 1.0 for a in alphas):
        raise WiseFtError(f"--alphas must be numbers in [0, 1], got {text!r}")
    return alphas


def headline(alpha, results):
    """The figures of one mix the README table shows (percent, 2 decimals)."""
    zero, ret = results["zeroshot"], results["retrieval"]
    row = {"alpha": alpha}
    row.update({f"zeroshot_{name}_top1": round(r["top1"], 2) for name, r in zero.items()})
    row.update({f"{name}_mean_recall": round(r["mean_recall"], 2) for name, r in ret.items()})
    return row


def evaluate_alphas(subject, start, finetuned, alphas, suite, progress=True):
    """Evaluate every mix on the suite; the model is left holding the fine-tuned weights."""
    from .evaluate import evaluate_suite
    rows = []
    subject.model.eval()
    for alpha in alphas:
        subject.load_state(interpolate(start, finetuned, alpha))
        tic = time.time()
        results = evaluate_suite(suite, subject.encode_images,
                                 lambda texts: encode_texts(subject, texts), subject.mean,
                                 subject.std, f"wiseft alpha={alpha}" if progress else "")
        rows.append({**headline(alpha, results), "seconds": round(time.time() - tic, 1),
                     "details": results})
    subject.load_state(finetuned)
    return rows


def export_mix(subject, start, finetuned, alpha, out_dir, bundle_dir, data_root):
    """Save the mix at `alpha` and export it as a bundle with `training.export.export`."""
    from ..export import export
    subject.load_state(interpolate(start, finetuned, alpha))
    name = f"wiseft-alpha{alpha:g}".replace(".", "_")  # no dot: save() sets the suffix
    path = subject.save(Path(out_dir) / name, {"wiseft_alpha": alpha})
    code = export.main(subject.export_args(path) + ["--out", str(bundle_dir),
                                                     "--parity-data", str(data_root)])
    subject.load_state(finetuned)
    if code:
        raise WiseFtError(f"export of alpha {alpha} into {bundle_dir} failed (see above)")
    return str(bundle_dir)


def run(args):
    """The whole experiment; returns the JSON-ready results."""
    from .evaluate import load_suite, seen_images, suite_notes
    alphas = parse_alphas(args.alphas)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    subject = build_subject(args)
    subject.model.to(memory_format=torch.channels_last)  # about 2x faster CNN convs on a CPU
    start = subject.state()
    data = load_caption_data(args.tsv, args.split, subject.image_size, args.image_root,
                             args.threads)
    if args.finetuned:
        subject.load_saved(args.finetuned)
        tuning = {"loaded": str(args.finetuned)}
    else:
        tuning = finetune(subject, data, args.epochs, args.batch_size, args.lr,
                          args.backbone_lr_scale, args.weight_decay,
                          None if args.augment else {"enabled": False}, args.seed,
                          args.max_steps, JsonlLog(out / "log.jsonl"))
        saved = subject.save(out / "finetuned", {"wiseft_finetune": tuning,
                                                 "start": subject.source})
        subject.load_saved(saved)  # evaluate exactly what was saved (fp16 for TerraLens)
        tuning["saved"] = str(saved)
    finetuned = subject.state()
    suite = load_suite(args.data, subject.image_size, args.limit, args.threads)
    rows = evaluate_alphas(subject, start, finetuned, alphas, suite, not args.quiet)
    results = {"start": {"kind": subject.kind, "source": subject.source},
               "finetune": {"tsv": str(args.tsv), "split": args.split,
                            "images": len(data.paths), "captions": len(data.texts), **tuning},
               "evaluation": {**suite_notes(suite), "limit_per_class": args.limit,
                              "seen_in_finetune": seen_images(suite, data.paths)},
               "alphas": rows}
    if args.export_alpha is not None:
        results["exported"] = export_mix(subject, start, finetuned, args.export_alpha, out,
                                         args.export_out or out / "bundle", args.data)
    return results


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m training wiseft", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", type=Path, help="TerraLens checkpoint (.safetensors)")
    source.add_argument("--open-clip-model", help="open_clip architecture, e.g. ViT-B-32")
    parser.add_argument("--open-clip-checkpoint", type=Path, help="its local state dict (.pt)")
    parser.add_argument("--open-clip-config", type=Path, help="extra open_clip config folder")
    parser.add_argument("--freeze-text", action="store_true",
                        help="open_clip: train the image tower and temperature only")
    parser.add_argument("--image-size", type=int, help="TerraLens input size (default: "
                        "the checkpoint's)")
    parser.add_argument("--tsv", type=Path, required=True,
                        help="caption table (split image scene_class caption) to fine-tune on")
    parser.add_argument("--image-root", type=Path, help="folder of the TSV's image paths "
                        "(default: the TSV's folder)")
    parser.add_argument("--split", default="train", help="TSV split to fine-tune on")
    parser.add_argument("--finetuned", type=Path, help="skip fine-tuning: load these weights "
                        "(the finetuned.* file of an earlier run)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-4, help="peak lr (heads; cosine decay)")
    parser.add_argument("--backbone-lr-scale", type=float, default=0.5,
                        help="lr of the backbone relative to --lr")
    parser.add_argument("--weight-decay", type=float, default=0.05)
    parser.add_argument("--no-augment", dest="augment", action="store_false",
                        help="no crops, flips or colour jitter")
    parser.add_argument("--max-steps", type=int, help="stop fine-tuning after N steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--alphas", default=",".join(f"{a:g}" for a in DEFAULT_ALPHAS),
                        help="interpolation weights to evaluate (0: start, 1: fine-tuned)")
    parser.add_argument("--data", type=Path, default=default_data_root(),
                        help="evaluation data folder (DATA.md)")
    parser.add_argument("--limit", type=int, help="evaluate on the first N images a class")
    parser.add_argument("--export-alpha", type=float, help="also export this mix as a bundle")
    parser.add_argument("--export-out", type=Path, help="its bundle folder (default OUT/bundle)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    if args.open_clip_model and not args.open_clip_checkpoint:
        parser.error("--open-clip-model needs --open-clip-checkpoint (a local state dict)")
    return args


def main(argv=None):
    """Command-line entry: print the results as JSON and write OUT/wiseft.json."""
    args = parse_args(argv)
    try:
        results = run(args)
    except (WiseFtError, FileNotFoundError) as err:
        print(f"wiseft failed: {err}", file=sys.stderr)
        return 1
    text = json.dumps(results, indent=2, allow_nan=False)
    atomic_write_text(Path(args.out) / "wiseft.json", text + "\n")
    print(json.dumps({k: v for k, v in results.items() if k != "alphas"} |
                     {"alphas": [{k: v for k, v in r.items() if k != "details"}
                                 for r in results["alphas"]]}, indent=2))
    return 0
