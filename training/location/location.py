"""Train the location encoder against frozen image embeddings (FLAVARS / SatCLIP), evaluate, export.

The points come from `python -m training location-points` (every tile of our geotagged scenes
embedded by the plugin itself). Each step takes one random tile per training scene and asks the
location encoder to pick that tile's image among the step's images from its lon/lat alone
(symmetric InfoNCE, `losses.location_loss`): tiles of one scene lie a few hundred metres apart,
far below the encoder's finest scale, so the scene is the unit of place here.

    .venv-train/bin/python -m training location train --points runs/location/points.npz \
        --out runs/location/holdout --holdout 4
    .venv-train/bin/python -m training location export --checkpoint runs/location/all/location.pt \
        --bundle models/terralens-effnet-minilm-v1
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn.functional import normalize

from terralens.plugin.core.bundle import LocationSpec, load_bundle, save_bundle

from ..export.onnx_export import batch_axes, export_onnx, reduce_precision
from ..export.parity import ParityError, cosine_figures
from ..objectives.losses import LocationEncoder, location_loss

ENCODER = {"frequencies": 32, "sigmas": [1.0, 8.0, 32.0], "hidden": 256}
LOCATION_FILE = "location.onnx"


def load_points(path):
    """(embeddings, lonlat, scene, scene names) from a points file."""
    data = np.load(path, allow_pickle=False)
    return (data["embeddings"].astype(np.float32), data["lonlat"].astype(np.float32),
            data["scene"].astype(np.int64), [str(n) for n in data["scene_names"]])


def split_scenes(scene_names, holdout, seed=0):
    """Indices of the held-out scenes: `holdout` Sentinel-2 patches drawn with `seed`."""
    patches = [i for i, name in enumerate(scene_names) if name.startswith("patch_")]
    rng = np.random.default_rng(seed)
    return sorted(int(i) for i in rng.choice(patches, size=holdout, replace=False))


def train_encoder(embeddings, lonlat, scene, train_scenes, steps=800, lr=2e-3, seed=0):
    """Fit a LocationEncoder on the tiles of `train_scenes`; returns (encoder, loss curve)."""
    # a few-kilobyte MLP on batches of ~20: more threads only add synchronisation (and on a busy
    # machine, spinning OpenMP threads make each step ~100x slower)
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    encoder = LocationEncoder(dim=embeddings.shape[1], seed=seed, **ENCODER)
    optimiser = torch.optim.AdamW(encoder.parameters(), lr=lr, weight_decay=0.01)
    members = [np.flatnonzero(scene == s) for s in train_scenes]
    images, places = torch.from_numpy(embeddings), torch.from_numpy(lonlat)
    curve = []
    for step in range(steps):
        pick = torch.as_tensor([rng.choice(m) for m in members])
        loss = location_loss(images[pick], encoder(places[pick]), encoder.logit_scale,
                             torch.ones(len(pick), dtype=torch.bool))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if step % 50 == 0 or step == steps - 1:
            curve.append({"step": step, "loss": round(float(loss.detach()), 4)})
    return encoder.eval(), curve


@torch.no_grad()
def scene_report(encoder, embeddings, lonlat, scene, scenes):
    """How well places pick their own scene's images among `scenes` (chance: 1 / len(scenes)).

    Returns mean cosine of a scene's place with its own images and with the others' images, and
    place -> scene retrieval top-1 over scene-mean image embeddings.
    """
    mean_images = normalize(torch.stack([torch.from_numpy(embeddings[scene == s]).mean(0)
                                         for s in scenes]), dim=-1)
    centres = torch.stack([torch.from_numpy(lonlat[scene == s]).mean(0) for s in scenes])
    places = normalize(encoder(centres), dim=-1)
    similarity = places @ mean_images.T
    own = similarity.diagonal()
    others = (similarity.sum(1) - own) / max(1, len(scenes) - 1)
    top1 = (similarity.argmax(1) == torch.arange(len(scenes))).float().mean()
    return {"scenes": len(scenes), "top1": round(float(top1) * 100, 1),
            "chance": round(100.0 / len(scenes), 1),
            "cos_own": round(float(own.mean()), 4), "cos_others": round(float(others.mean()), 4)}


def train_command(args):
    embeddings, lonlat, scene, names = load_points(args.points)
    held = split_scenes(names, args.holdout, args.seed) if args.holdout else []
    train_scenes = [s for s in range(len(names)) if s not in held]
    start = time.perf_counter()
    encoder, curve = train_encoder(embeddings, lonlat, scene, train_scenes, args.steps,
                                   seed=args.seed)
    report = {"points": len(scene), "scenes": len(names),
              "train_scenes": [names[s] for s in train_scenes],
              "heldout_scenes": [names[s] for s in held], "steps": args.steps,
              "encoder": ENCODER, "seconds": round(time.perf_counter() - start, 1),
              "train": scene_report(encoder, embeddings, lonlat, scene, train_scenes),
              "loss": curve}
    if held:
        report["heldout"] = scene_report(encoder, embeddings, lonlat, scene, held)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": encoder.state_dict(), "config": ENCODER,
                "dim": embeddings.shape[1], "report": report}, out / "location.pt")
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in report.items() if k != "loss"}, indent=1))


def load_encoder(checkpoint):
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    encoder = LocationEncoder(dim=saved["dim"], **saved["config"])
    encoder.load_state_dict(saved["state_dict"])
    return encoder.eval(), saved["report"]


def export_command(args):
    """Write location.onnx into a bundle, check it against torch, record it in bundle.json."""
    import onnxruntime
    encoder, report = load_encoder(args.checkpoint)
    bundle = load_bundle(args.bundle)
    dim = encoder.mlp[-1].out_features
    if dim != bundle.embedding_dim:
        raise ValueError(f"the location encoder gives {dim}-d embeddings but bundle "
                         f"{bundle.id!r} has {bundle.embedding_dim}-d ones: train it on points "
                         "embedded by that bundle")
    target = Path(args.bundle) / LOCATION_FILE
    example = torch.tensor([[-84.39, 33.75], [15.0, 45.0]])
    export_onnx(encoder, (example,), ["lonlat"], ["location_embeds"],
                batch_axes(["lonlat", "location_embeds"]), target)
    reduce_precision(target, args.precision)  # the parity check below covers the rounding
    grid = np.stack(np.meshgrid(np.linspace(-180, 180, 37), np.linspace(-89, 89, 19)),
                    axis=-1).reshape(-1, 2).astype(np.float32)
    session = onnxruntime.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    exported = session.run(None, {"lonlat": grid})[0]
    with torch.no_grad():
        reference = encoder(torch.from_numpy(grid)).numpy()
    parity = cosine_figures(reference, exported)
    if parity["min"] < 0.999:
        target.unlink()
        raise ParityError(f"location.onnx does not match torch: {parity}")
    bundle.location = LocationSpec(file=LOCATION_FILE, prior_weight=args.prior_weight,
                                   description=args.description)
    bundle.provenance["location"] = {"report": {k: v for k, v in report.items() if k != "loss"},
                                     "parity": dict(parity, points=len(grid)),
                                     "precision": args.precision}
    save_bundle(bundle, args.bundle)
    print(json.dumps({"bundle": str(args.bundle), "parity": parity}))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m training location",
                                     description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="fit the location encoder on a points file")
    train.add_argument("--points", required=True)
    train.add_argument("--out", required=True)
    train.add_argument("--holdout", type=int, default=0, help="Sentinel-2 scenes held out")
    train.add_argument("--steps", type=int, default=800)
    train.add_argument("--seed", type=int, default=0)
    export = commands.add_parser("export", help="add location.onnx to a model bundle")
    export.add_argument("--checkpoint", required=True)
    export.add_argument("--bundle", required=True)
    export.add_argument("--prior-weight", type=float, default=0.5)
    export.add_argument("--precision", choices=("fp32", "fp16"), default="fp16",
                        help="how the MLP weights are stored (computed in fp32 either way)")
    export.add_argument("--description", default="FLAVARS/SatCLIP-style location encoder "
                        "fitted to 22 geotagged scenes (20 Sentinel-2 patches, 2 aerial): "
                        "a demonstration, not a geographic prior")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.command == "train":
        train_command(args)
    else:
        export_command(args)
