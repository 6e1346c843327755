"""Train the dense head on iterated attention pseudo-labels (RS-WebLI), trunk frozen, on the CPU.

    python -m training dense-head --checkpoint runs/cpu-v1/best.safetensors \\
        --pack packs/rsicd-aid-train-128.pack --out runs/dense-head --rounds 3

Round 0's pseudo-labels come from the untrained head (the upsampled value-path features, i.e.
the baseline); round k+1's from round k's head. Each round writes `round<k>.safetensors`
(+ .json) under `--out`; `python -m training export --dense-head` puts one into a bundle.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional

from .dense_head import DenseHead, coarse_outputs, save_head
from .pseudo_labels import (
    VOCABULARY,
    caption_labels,
    cell_labels,
    pseudo_labels,
    vocabulary_prompts,
)


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m training dense-head",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, required=True, help="TerraLens checkpoint")
    parser.add_argument("--pack", type=Path, required=True, help="training pack (train split)")
    parser.add_argument("--out", type=Path, required=True, help="folder for heads and logs")
    parser.add_argument("--rounds", type=int, default=3, help="pseudo-label rounds")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per round")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--sigma", type=float, default=0.7, help="smoothing, in grid cells")
    parser.add_argument("--negative-weight", type=float, default=0.3)
    parser.add_argument("--distill", type=float, default=0.1,
                        help="weight of keeping the head's features near the baseline's")
    parser.add_argument("--loss", choices=("bce", "softmax"), default="bce",
                        help="bce: per-word sigmoid on pseudo-masks; softmax: one word a "
                             "location against the whole vocabulary (as the plugin scores)")
    parser.add_argument("--limit", type=int, help="use only N images (smoke runs)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def image_captions(pack):
    """Each pack image's natural captions (the class captions are left out)."""
    return [[pack.captions[row] for row in pack.captions_of(i)] for i in range(len(pack))]


@torch.no_grad()
def cache_features(model, images, batch_size=64):
    """(stride-16 features, stride-32 dense features) of uint8 (N, S, S, 3) images, float16."""
    from ..model.model import IMAGE_MEAN, IMAGE_STD
    mean = torch.tensor(IMAGE_MEAN).reshape(1, 3, 1, 1)
    std = torch.tensor(IMAGE_STD).reshape(1, 3, 1, 1)
    fine, dense = [], []
    for start in range(0, len(images), batch_size):
        batch = torch.as_tensor(images[start:start + batch_size]).permute(0, 3, 1, 2)
        _, f, d = coarse_outputs(model, (batch.float() / 255 - mean) / std)
        fine.append(f.half())
        dense.append(d.half())
    return torch.cat(fine), torch.cat(dense)


@torch.no_grad()
def text_vectors(model, prompts):
    """Unit text embeddings (K, D) of prompts, as the plugin encodes them (no template)."""
    from ..model.model import tokenize
    return functional.normalize(model.encode_text(*tokenize(prompts)), dim=-1)


@torch.no_grad()
def similarity_maps(head, fine, dense, text, batch_size=256):
    """Cosine (N, K, H, W) of the head's features to every word."""
    maps = []
    for start in range(0, len(fine), batch_size):
        out = head(fine[start:start + batch_size].float(), dense[start:start + batch_size].float())
        maps.append(torch.einsum("bdhw,kd->bkhw", functional.normalize(out, dim=1), text))
    return torch.cat(maps)


class Scorer(torch.nn.Module):
    """Per-location word logits: scale * cosine + bias (both learnt)."""

    def __init__(self, scale, bias):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(float(scale)))
        self.bias = torch.nn.Parameter(torch.tensor(float(bias)))

    def forward(self, features, text):
        cosine = torch.einsum("bdhw,kd->bkhw", functional.normalize(features, dim=1), text)
        return self.scale * cosine + self.bias


def head_loss(head, scorer, batch, text, distill):
    """(total, label loss) of a batch (fine, dense, targets, weights) or (fine, dense, labels).

    With targets and weights: weighted per-word binary cross-entropy. With (N, H, W) word
    labels (-1: none): cross-entropy of each location over the whole vocabulary.
    """
    fine, dense = batch[0].float(), batch[1].float()
    out = head(fine, dense)
    logits = scorer(out, text)
    if len(batch) == 3:
        bce = functional.cross_entropy(logits, batch[2].long(), ignore_index=-1)
    else:
        targets, weights = batch[2].float(), batch[3].float()
        bce = functional.binary_cross_entropy_with_logits(
            logits, targets, weight=weights, reduction="sum") / weights.sum().clamp(1)
    base = functional.interpolate(dense, size=out.shape[-2:], mode="bilinear",
                                  align_corners=False)
    keep = 1 - functional.cosine_similarity(out, base, dim=1).mean()
    return bce + distill * keep, bce


def train_round(head, scorer, tensors, split, text, args, log):
    """Train the head (and scorer) for `args.epochs` on this round's pseudo-labels."""
    train_idx, val_idx = split
    params = list(head.parameters()) + list(scorer.parameters())
    optimiser = torch.optim.AdamW(params, lr=args.lr, weight_decay=1e-4)
    steps = args.epochs * max(1, len(train_idx) // args.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, args.lr, total_steps=steps,
                                                   pct_start=0.1)
    generator = np.random.default_rng(args.seed + len(log))
    for epoch in range(args.epochs):
        head.train()
        order = generator.permutation(train_idx)
        losses = []
        for start in range(0, len(order) - args.batch_size + 1, args.batch_size):
            index = torch.as_tensor(order[start:start + args.batch_size])
            total, bce = head_loss(head, scorer, [t[index] for t in tensors], text, args.distill)
            optimiser.zero_grad()
            total.backward()
            optimiser.step()
            schedule.step()
            losses.append(bce.item())
        val = evaluate_loss(head, scorer, tensors, val_idx, text, args.distill)
        log.append({"epoch": epoch, "train_bce": float(np.mean(losses)), "val_bce": val})
        print(json.dumps(log[-1]), flush=True)
    head.eval()


@torch.no_grad()
def evaluate_loss(head, scorer, tensors, index, text, distill):
    """Mean weighted BCE of the held-out images."""
    head.eval()
    index = torch.as_tensor(index)
    return float(head_loss(head, scorer, [t[index] for t in tensors], text, distill)[1])


def holdout(count, seed, fraction=0.05):
    """(train, val) image indices; val is a seeded `fraction` of the images."""
    order = np.random.default_rng(seed).permutation(count)
    n_val = max(1, int(round(count * fraction)))
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def initial_scorer(head, fine, dense, text, positive, scale=10.0):
    """A scorer whose bias centres the baseline's cosines."""
    sample = similarity_maps(head, fine[:512], dense[:512], text)
    mean = float(sample[torch.as_tensor(positive[:512])].mean())
    return Scorer(scale, -scale * mean)


def round_labels(maps, positive, negative, args):
    """(label tensors for `head_loss`, share of labelled locations that are positive)."""
    if args.loss == "softmax":
        labels = cell_labels(maps, positive, sigma=args.sigma)
        return (labels.to(torch.int8),), float((labels >= 0).float().mean())
    targets, weights = pseudo_labels(maps, positive, negative, args.negative_weight,
                                     sigma=args.sigma)
    share = float(targets.sum() / (weights == 1).sum().clamp(1))
    return (targets.half(), weights.half()), share


def run(args):
    """All rounds; returns the per-round records."""
    from ..data.pack import PackDataset
    from ..export.export import load_terralens
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    model, _, _ = load_terralens(args.checkpoint)
    pack = PackDataset(args.pack, threads=args.threads, limit=args.limit)
    positive, negative = caption_labels(image_captions(pack))
    fine, dense = cached_features(model, pack, args)
    text = text_vectors(model, vocabulary_prompts())
    head = DenseHead(fine_channels=fine.shape[1], embed_dim=dense.shape[1]).eval()
    # The softmax loss uses the model's own temperature, the one the plugin scores with.
    scale = model.logit_scale.detach().exp().item() if args.loss == "softmax" else 10.0
    scorer = initial_scorer(head, fine, dense, text, positive, scale)
    split = holdout(len(pack), args.seed)
    records = []
    for round_index in range(args.rounds):
        round_start = time.perf_counter()
        maps = similarity_maps(head, fine, dense, text)
        labels, share = round_labels(maps, positive, negative, args)
        log = []
        train_round(head, scorer, (fine, dense, *labels), split, text, args, log)
        record = {"round": round_index, "seconds": round(time.perf_counter() - round_start, 1),
                  "positive_share": share,
                  "log": log, "scale": scorer.scale.item(), "bias": scorer.bias.item()}
        records.append(record)
        save_head(head, args.out / f"round{round_index}.safetensors", {
            "checkpoint": str(args.checkpoint), "pack": str(args.pack), "images": len(pack),
            "vocabulary": vocabulary_prompts(VOCABULARY), "args": _jsonable(vars(args)),
            "rounds": records})
        print(f"round {round_index}: {record['seconds']} s", flush=True)
    return records


def cached_features(model, pack, args):
    """`cache_features` of the pack, kept in `--out` for the next run with the same inputs."""
    key = f"{args.checkpoint.resolve()}|{args.checkpoint.stat().st_mtime}|{args.pack}|{args.limit}"
    path = args.out / "features.pt"
    if path.is_file():
        saved = torch.load(path, weights_only=True)
        if saved.get("key") == key:
            return saved["fine"], saved["dense"]
    started = time.perf_counter()
    fine, dense = cache_features(model, pack.images)
    print(f"features of {len(pack)} images in {time.perf_counter() - started:.0f} s", flush=True)
    torch.save({"key": key, "fine": fine, "dense": dense}, path)
    return fine, dense


def _jsonable(options):
    return {k: str(v) if isinstance(v, Path) else v for k, v in options.items()}


def main(argv=None):
    """Command-line entry point."""
    run(parse_args(argv))
    return 0
