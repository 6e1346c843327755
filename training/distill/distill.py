"""Distil a band adapter for another sensor into the frozen RGB encoder ("Mind the Modality Gap" 2).

    python -m training distill --sensor pan --minutes 15
    python -m training distill --sensor s2 --minutes 15

The student is a small `BandAdapter` in front of the frozen teacher image tower; the loss is
1 - cos(student, teacher) on the pooled embedding plus `--dense-weight` x the same on the dense
map, the teacher seeing the paired RGB. Writes `adapter.safetensors`, `adapter.json` (config,
sensor, teacher) and `report.json` (held-out cosines of the naive baseline and the student)
into `--out` (default runs/distill-<sensor>/). Add the result to a bundle with
`python -m training distill-export`.
"""

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from terralens.plugin.core.atomic import atomic_write_text

from .model import Student, cosines, distill_loss, make_adapter, normalise, sensor

DEFAULT_TEACHER = Path("runs/cpu-v1/best.safetensors")
DEFAULT_PACK = Path("packs/rsicd-aid-train-128.pack")


def cosine_lr(base_lr, progress, warmup=0.05):
    """Learning rate at `progress` in [0, 1]: linear warm-up, then cosine to zero."""
    if progress < warmup:
        return base_lr * progress / warmup
    return base_lr * 0.5 * (1 + math.cos(math.pi * min(1.0, (progress - warmup) / (1 - warmup))))


def to_tensor(array):
    return torch.from_numpy(np.ascontiguousarray(array))


def distill(student, pairs, steps=None, minutes=None, batch_size=16, lr=1e-3, dense_weight=0.5,
            seed=0, log=None):
    """Train `student.adapter` on `pairs.sample(...)` batches; returns the per-step history.

    Stops after `steps` steps or `minutes` of wall time, whichever comes first; the learning
    rate follows the further of the two as its schedule's progress.
    """
    if not steps and not minutes:
        raise ValueError("give steps or minutes (or both) to bound the training")
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.AdamW(student.adapter.parameters(), lr=lr, weight_decay=0.0)
    student.train()
    started, history, step = time.perf_counter(), [], 0
    while True:
        elapsed = time.perf_counter() - started
        progress = max(step / steps if steps else 0.0, elapsed / (60 * minutes) if minutes else 0)
        if progress >= 1.0:
            break
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(lr, progress)
        batch = pairs.sample(rng, batch_size)
        with torch.no_grad():
            target = student.teacher.encode_image_dense(normalise(to_tensor(batch.teacher)))
        loss, embed_cos, dense_cos = distill_loss(student(normalise(to_tensor(batch.student))),
                                                  target, dense_weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        record = {"step": step, "loss": loss.item(), "embed_cos": embed_cos.item(),
                  "dense_cos": dense_cos.item(), "seconds": round(time.perf_counter() - started, 1)}
        history.append(record)
        if log and (step % 10 == 0 or step == 1):
            log(record)
    student.eval()
    return history


@torch.no_grad()
def heldout_cosines(student, pairs, rgb_bands=None, batch_size=32):
    """Mean/min embedding cosine and mean dense cosine of student vs teacher on fixed pairs.

    With `rgb_bands`, the student is replaced by that naive band choice fed to the teacher.
    """
    embeds, dense = [], []
    for start in range(0, len(pairs), batch_size):
        student_px = to_tensor(pairs.student[start:start + batch_size])
        teacher_px = to_tensor(pairs.teacher[start:start + batch_size])
        target = student.teacher.encode_image_dense(normalise(teacher_px))
        if rgb_bands is None:
            out = student(normalise(student_px))
        else:
            out = student.teacher.encode_image_dense(normalise(student_px[:, list(rgb_bands)]))
        e, d = cosines(out, target)
        embeds.append(e)
        dense.append(d)
    embeds, dense = torch.cat(embeds), torch.cat(dense)
    return {"embed_cos_mean": round(float(embeds.mean()), 4),
            "embed_cos_min": round(float(embeds.min()), 4),
            "dense_cos_mean": round(float(dense.mean()), 4), "pairs": len(pairs)}


def heldout_report(student, pairs, sensor_name):
    """Held-out cosines of the naive baseline(s) and of the trained student."""
    spec = sensor(sensor_name)
    held = pairs.heldout()
    report = {"pairs": held.note, "baseline": heldout_cosines(student, held, spec.baseline),
              "student": heldout_cosines(student, held)}
    if spec.naive_first_bands:
        report["first_bands"] = heldout_cosines(student, held, spec.naive_first_bands)
        report["first_bands"]["what"] = "bands 1, 2, 3 as R, G, B (no band mapping)"
    report["baseline"]["what"] = "naive mapping: " + ", ".join(
        spec.bands[b] for b in spec.baseline) + " as R, G, B"
    return report


def load_pairs(args):
    """The pair source a command line names."""
    from .data import load_pan_pairs, load_s2_pairs
    if args.sensor == "pan":
        return load_pan_pairs(args.pack, heldout=args.heldout, seed=args.seed, limit=args.limit)
    return load_s2_pairs(args.data, heldout=args.heldout, seed=args.seed)


def save_run(out, student, args, pairs, history, report):
    """adapter.safetensors + adapter.json + report.json + log.jsonl in `out`."""
    from safetensors.torch import save_file
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in student.adapter.state_dict().items()}
    save_file(state, str(out / "adapter.safetensors"))
    spec = sensor(args.sensor)
    info = {"sensor": spec.name, "bands": list(spec.bands), "description": spec.description,
            "adapter": student.adapter.config(),
            "parameters": sum(p.numel() for p in student.adapter.parameters()),
            "teacher": str(args.teacher), "data": pairs.describe(),
            "training": {"steps": len(history), "batch_size": args.batch_size, "lr": args.lr,
                         "dense_weight": args.dense_weight, "seed": args.seed,
                         "threads": torch.get_num_threads(),
                         "seconds": history[-1]["seconds"] if history else 0.0},
            "heldout": report}
    atomic_write_text(out / "adapter.json", json.dumps(info, indent=2) + "\n")
    atomic_write_text(out / "report.json", json.dumps(report, indent=2) + "\n")
    lines = "".join(json.dumps(record) + "\n" for record in history)
    atomic_write_text(out / "log.jsonl", lines)
    return info


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m training distill", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sensor", required=True, choices=("pan", "s2"))
    parser.add_argument("--teacher", type=Path, default=DEFAULT_TEACHER,
                        help="checkpoint of the frozen RGB model (training.model.checkpoint "
                             "format)")
    parser.add_argument("--out", type=Path, help="run folder (default runs/distill-<sensor>)")
    parser.add_argument("--pack", type=Path, default=DEFAULT_PACK, help="pan: RGB train pack")
    parser.add_argument("--data", type=Path, help="shared data folder (s2 patches)")
    parser.add_argument("--heldout", type=int, help="held-out images (pan, default 256) or "
                        "patches (s2, default 4)")
    parser.add_argument("--limit", type=int, help="pan: decode only N images of the pack")
    parser.add_argument("--minutes", type=float, default=15.0, help="wall-time budget")
    parser.add_argument("--steps", type=int, help="step budget (the first reached stops)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--dense-weight", type=float, default=0.5)
    parser.add_argument("--width", type=int, default=16, help="adapter channels")
    parser.add_argument("--blocks", type=int, default=2, help="adapter residual blocks")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.heldout is None:
        args.heldout = 256 if args.sensor == "pan" else 4
    if args.data is None:
        from ..export.parity import default_data_dir
        args.data = default_data_dir()
    args.out = args.out or Path("runs") / f"distill-{args.sensor}"
    return args


def main(argv=None):
    """Train, evaluate on held-out pairs and save; prints the report."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    from ..export.export import load_terralens
    teacher, _, _ = load_terralens(args.teacher)
    pairs = load_pairs(args)
    student = Student(make_adapter(args.sensor, args.width, args.blocks), teacher)
    history = distill(student, pairs, args.steps, args.minutes, args.batch_size, args.lr,
                      args.dense_weight, args.seed,
                      log=lambda r: print(json.dumps(r), file=sys.stderr, flush=True))
    report = heldout_report(student, pairs, args.sensor)
    info = save_run(args.out, student, args, pairs, history, report)
    print(json.dumps(info, indent=2))
    return 0
