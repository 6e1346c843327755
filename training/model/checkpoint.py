"""Checkpoints of the trainable part only: fp16 safetensors plus a JSON of how they were made.

`python -m training checkpoint --size 128 --out packs/init-128.safetensors` writes the untrained,
ImageNet-initialised trainable part: a GPU run can start from it (`model.init_checkpoint`)
without carrying the EfficientNet weights package. `--trunk-only --bits 8` keeps only the
ImageNet trunk, its weight matrices as int8 with one scale per output channel (3.6 MB instead of
10 MB, for the device tool's 64 MiB); `load_checkpoint` dequantizes such a file by itself.
"""

import argparse
import json
import os
import subprocess
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from terralens.plugin.core.atomic import atomic_path, atomic_write_text

REPO_ROOT = Path(__file__).resolve().parents[2]
CHECKPOINT_FORMAT = "terralens-trainable"
Q8_SCALE_SUFFIX = ".q8_scale"  # key of the per-output-channel scales of an int8 tensor
TRUNK_PREFIX = "visual.trunk."


def git_revision():
    """The checkout's commit, `+dirty` when tracked files differ from it ("unknown" if none).

    `TERRALENS_GIT_REVISION` overrides it: a copy without `.git` (a GPU machine) is told its
    revision by the job that sent it.
    """
    if os.environ.get("TERRALENS_GIT_REVISION"):
        return os.environ["TERRALENS_GIT_REVISION"]
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
        return rev + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def half_state(state):
    """Floating tensors to contiguous CPU float16; integer buffers (BN counters) kept as is."""
    return {key: (value.detach().to("cpu", torch.float16) if value.is_floating_point()
                  else value.detach().cpu()).contiguous()
            for key, value in state.items()}


def quantize_int8(state):
    """Floating tensors of 2+ dims to int8, symmetric, one float32 scale per output channel.

    The scales go under `<key>.q8_scale`; 1-d tensors (BatchNorm) stay float16. EfficientNet-Lite
    was designed for int8 inference, so this is a faithful starting point for fine-tuning.
    """
    out = {}
    for key, value in half_state(state).items():
        if not value.is_floating_point() or value.dim() < 2:
            out[key] = value
            continue
        rows = value.float().reshape(value.shape[0], -1)
        scale = rows.abs().amax(dim=1).clamp(min=1e-12) / 127.0
        out[key] = torch.round(rows / scale[:, None]).to(torch.int8).reshape(value.shape)
        out[key + Q8_SCALE_SUFFIX] = scale.contiguous()
    return out


def dequantize_int8(state):
    """Undo `quantize_int8` (float32 tensors); a state without scales comes back unchanged."""
    out = {key: value for key, value in state.items() if not key.endswith(Q8_SCALE_SUFFIX)}
    for key, scale in state.items():
        if key.endswith(Q8_SCALE_SUFFIX):
            base = key[:-len(Q8_SCALE_SUFFIX)]
            shape = (-1,) + (1,) * (out[base].dim() - 1)
            out[base] = out[base].float() * scale.float().reshape(shape)
    return out


def save_checkpoint(model, path, info):
    """Write the trainable tensors of `model` to `path` (.safetensors) and `info` beside it (.json).

    Both files are written atomically, the JSON last, so a JSON always names finished weights.
    """
    from .model import trainable_state_dict

    path = Path(path)
    state = half_state(trainable_state_dict(model))
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={"format": CHECKPOINT_FORMAT})
        tmp.chmod(0o644)  # mkstemp makes it private; a checkpoint is meant to be shared
    info = {**info, "format": CHECKPOINT_FORMAT, "tensors": len(state),
            "parameters": int(sum(v.numel() for v in state.values())),
            "bytes": path.stat().st_size}
    atomic_write_text(path.with_suffix(".json"), json.dumps(info, indent=2) + "\n")
    return info


def load_checkpoint(model, path):
    """Load trainable tensors saved by `save_checkpoint` into `model`; return the JSON info."""
    from .model import load_trainable

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found")
    reference = dict(model.state_dict())
    state = {key: value.to(reference[key].dtype) if key in reference else value
             for key, value in dequantize_int8(load_file(str(path))).items()}
    load_trainable(model, state)
    info_path = path.with_suffix(".json")
    return json.loads(info_path.read_text(encoding="utf-8")) if info_path.is_file() else {}


def save_init_checkpoint(path, image_size=128, bits=16, trunk_only=False):
    """Write the untrained, ImageNet-initialised trainable part of the default model.

    Args:
        path: .safetensors file to write (a .json of how it was made goes beside it).
        image_size: the model's input size.
        bits: 16 (float16) or 8 (int8 weight matrices, see `quantize_int8`).
        trunk_only: keep only the EfficientNet trunk (`visual.trunk.*`), the one part with
            pretrained weights; the pool and projections start fresh in any run anyway.

    Returns:
        The JSON info, with `tensors`, `parameters` and `bytes`.
    """
    from .model import create_model, trainable_state_dict

    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, got {bits}")
    state = trainable_state_dict(create_model(image_size, text_weights=False))
    if trunk_only:
        state = {key: value for key, value in state.items() if key.startswith(TRUNK_PREFIX)}
    state = quantize_int8(state) if bits == 8 else half_state(state)
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={"format": CHECKPOINT_FORMAT, "bits": str(bits)})
        tmp.chmod(0o644)
    info = {"init": "ImageNet EfficientNet-Lite0" + ("" if trunk_only else
                                                     ", identity text projection"),
            "image_size": image_size, "bits": bits, "trunk_only": trunk_only,
            "git_revision": git_revision(), "format": CHECKPOINT_FORMAT,
            "tensors": len(state), "parameters": int(sum(v.numel() for v in state.values())),
            "bytes": path.stat().st_size}
    atomic_write_text(path.with_suffix(".json"), json.dumps(info, indent=2) + "\n")
    return info


def main(argv=None):
    """Write the freshly initialised trainable part of the default model (see module doc)."""
    parser = argparse.ArgumentParser(prog="python -m training checkpoint",
                                     description="Write an initial trainable checkpoint.")
    parser.add_argument("--size", type=int, default=128, help="model input size")
    parser.add_argument("--out", required=True, help="safetensors file to write")
    parser.add_argument("--bits", type=int, choices=(8, 16), default=16,
                        help="16: float16; 8: int8 weight matrices (per-channel scales)")
    parser.add_argument("--trunk-only", action="store_true",
                        help="only the ImageNet EfficientNet trunk (the rest starts fresh)")
    args = parser.parse_args(argv)
    info = save_init_checkpoint(args.out, args.size, args.bits, args.trunk_only)
    print(json.dumps({key: info[key] for key in ("tensors", "parameters", "bytes")}))
