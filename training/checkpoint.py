"""Checkpoints of the trainable part only: fp16 safetensors plus a JSON of how they were made.

`python -m training.checkpoint --size 128 --out packs/init-128.safetensors` writes the untrained,
ImageNet-initialised trainable part: a GPU run can start from it (`model.init_checkpoint`)
without carrying the EfficientNet weights package.
"""

import argparse
import json
import subprocess
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from terralens.plugin.core.atomic import atomic_path, atomic_write_text

REPO_ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT_FORMAT = "terralens-trainable"


def git_revision():
    """The checkout's commit, `+dirty` when tracked files differ from it ("unknown" if none)."""
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
             for key, value in load_file(str(path)).items()}
    load_trainable(model, state)
    info_path = path.with_suffix(".json")
    return json.loads(info_path.read_text(encoding="utf-8")) if info_path.is_file() else {}


def main(argv=None):
    """Write the freshly initialised trainable part of the default model (see module doc)."""
    from .model import create_model

    parser = argparse.ArgumentParser(description="Write an initial trainable checkpoint.")
    parser.add_argument("--size", type=int, default=128, help="model input size")
    parser.add_argument("--out", required=True, help="safetensors file to write")
    args = parser.parse_args(argv)
    info = save_checkpoint(create_model(args.size), args.out,
                           {"init": "ImageNet EfficientNet-Lite0, identity text projection",
                            "image_size": args.size, "git_revision": git_revision()})
    print(json.dumps({key: info[key] for key in ("tensors", "parameters", "bytes")}))


if __name__ == "__main__":
    main()
