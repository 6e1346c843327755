"""Export a trained model to a TerraLens bundle folder, with a torch-vs-onnxruntime parity check.

    python -m training export --checkpoint CKPT --out models/<id>/ [--image-size 128]
    python -m training export --open-clip-model ViT-B-32 --open-clip-checkpoint sd.pt --out DIR
    python -m training export --text-only --out models/terralens-effnet-minilm-v1/
    python -m training export --scale-only --out models/terralens-effnet-minilm-v1/

The bundle is written into a temporary sibling folder and renamed onto `--out` only after the
parity check passed, so a failed export leaves the old folder (or none) behind.
"""

import argparse
import filecmp
import json
import os
import shutil
import sys
from pathlib import Path

import torch
from torch.nn.functional import normalize

from terralens.plugin.core.bundle import (
    BUILTIN_PREFIX,
    BUILTIN_VOCAB_DIR,
    BUNDLE_FILE,
    SCHEMA_VERSION,
    Bundle,
    ImageSpec,
    TextSpec,
    save_bundle,
)

from . import parity
from .bundle_writer import finish_bundle, provenance, read_bundle_json, staged_folder
from .onnx_export import TEXT_PRECISIONS, batch_axes, export_onnx, reduce_precision
from .scale_range import scale_from_args

PROJECTION_FILE = "text_projection.safetensors"
PROJECTION_KEY = "text.proj.weight"


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m training export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", type=Path,
                        help="TerraLens checkpoint (.safetensors with its .json beside it)")
    source.add_argument("--open-clip-model", help="open_clip architecture name, e.g. ViT-B-32")
    source.add_argument("--text-only", action="store_true",
                        help="only (re)build text.onnx of an existing default-model bundle")
    source.add_argument("--scale-only", action="store_true",
                        help="only (re)write the range of scales (`scale`) in bundle.json of an "
                             "existing bundle, from its provenance or --gsd-range-m")
    parser.add_argument("--out", type=Path, required=True, help="bundle folder to write")
    parser.add_argument("--open-clip-checkpoint", type=Path,
                        help="open_clip weights: a state dict (.pt, .safetensors, as RemoteCLIP "
                             "and GeoRSCLIP publish) or an open_clip training checkpoint "
                             "(SkyCLIP)")
    parser.add_argument("--open-clip-config", type=Path, help="extra open_clip config folder")
    parser.add_argument("--image-size", type=int, help="input size (default: checkpoint's)")
    parser.add_argument("--id", help="bundle id (default: the --out folder name)")
    parser.add_argument("--name", help="human-readable model name (default: the id)")
    parser.add_argument("--gsd-m", type=float, default=0.0,
                        help="ground sample distance the model was trained at (0: native)")
    parser.add_argument("--gsd-range-m", type=float, nargs=2, metavar=("FINEST", "COARSEST"),
                        help="metres of ground a model pixel the model was trained and "
                             "evaluated at; the plugin picks a scale in it for each raster "
                             "(default: derived from the training data of a TerraLens "
                             "checkpoint; none for open_clip models, tiled at --gsd-m)")
    parser.add_argument("--max-upsampling", type=float,
                        help="most model pixels a raster pixel may become along a side when "
                             "the plugin picks the scale (default 2)")
    parser.add_argument("--evaluation", type=Path, help="JSON file of evaluation figures")
    parser.add_argument("--text-precision", choices=TEXT_PRECISIONS, default="fp32",
                        help="storage of text.onnx (default fp32)")
    parser.add_argument("--image-precision", choices=("fp32", "fp16"), default="fp32",
                        help="storage of image.onnx weights (fp16 halves the file; the CPU "
                             "still computes in fp32)")
    parser.add_argument("--parity-data", type=Path, help="real data folder (../shared/data)")
    parser.add_argument("--dense-head", type=Path, help="dense head (.safetensors) from "
                        "`python -m training dense-head`: its map becomes dense_features")
    parser.add_argument("--force", action="store_true", help="--text-only: rebuild even if "
                        "text.onnx is newer than its inputs")
    args = parser.parse_args(argv)
    if args.open_clip_model and not args.open_clip_checkpoint:
        parser.error("--open-clip-model needs --open-clip-checkpoint (a local state dict)")
    return args


def main(argv=None):
    """Run the exporter; returns 0 on success, 1 when the export or its parity check failed."""
    args = parse_args(argv)
    try:
        if args.text_only:
            export_text_only(args.out, force=args.force, data_dir=args.parity_data)
        elif args.scale_only:
            export_scale_only(args)
        elif args.open_clip_model:
            from .open_clip_bundle import export_open_clip
            export_open_clip(args)
        else:
            export_terralens(args)
    except (parity.ParityError, ValueError, FileNotFoundError) as err:
        print(f"export failed: {err}", file=sys.stderr)
        return 1
    return 0


def wordpiece_vocab(stage):
    """The vocab_file entry for MiniLM: the core's builtin copy if identical, else a copy."""
    from ..model.model import text_tokenizer_files
    minilm = text_tokenizer_files()["vocab.txt"]
    if filecmp.cmp(minilm, BUILTIN_VOCAB_DIR / "vocab.txt", shallow=False):
        return BUILTIN_PREFIX + "vocab.txt"
    shutil.copy2(minilm, stage / "vocab.txt")
    return "vocab.txt"


def checkpoint_image_size(checkpoint, image_size=None):
    """(image size, checkpoint info): --image-size, else the recipe's, else 128."""
    info_path = Path(checkpoint).with_suffix(".json")
    info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.is_file() else {}
    recipe = info.get("recipe") if isinstance(info.get("recipe"), dict) else {}
    size = image_size or recipe.get("model", {}).get("image_size") or info.get("image_size")
    return int(size or 128), info


def load_terralens(checkpoint, image_size=None):
    """(model, checkpoint info, image size) from a `training.model.checkpoint` safetensors file."""
    from ..model.checkpoint import load_checkpoint
    from ..model.model import create_model
    if not Path(checkpoint).is_file():
        raise FileNotFoundError(f"checkpoint {checkpoint} not found")
    size, _ = checkpoint_image_size(checkpoint, image_size)
    model = create_model(image_size=size, pretrained=True)
    info = load_checkpoint(model, checkpoint)
    return model.eval(), info, size


def write_text_onnx(model, target, precision):
    """text.onnx of a TerraLens model (MiniLM + projection), stored at `precision`."""
    from ..model.model import tokenize
    from .onnx_export import TerraLensText
    input_ids, attention_mask = tokenize(["a remote sensing image of a forest.", "a port"])
    names = ["input_ids", "attention_mask"]
    axes = {**batch_axes(names, length_axis=1), **batch_axes(["text_embeds"])}
    export_onnx(TerraLensText(model), (input_ids, attention_mask), names, ["text_embeds"], axes,
                target)
    return reduce_precision(target, precision)


def terralens_references(model):
    """Torch reference functions for the parity check (normalised outputs, numpy)."""
    from ..model.model import IMAGE_MEAN, IMAGE_STD, tokenize
    mean = torch.tensor(IMAGE_MEAN).reshape(1, 3, 1, 1)
    std = torch.tensor(IMAGE_STD).reshape(1, 3, 1, 1)

    @torch.no_grad()
    def image(pixels):
        embeds, dense = model.encode_image_dense((torch.from_numpy(pixels) - mean) / std)
        return normalize(embeds, dim=-1).numpy(), normalize(dense, dim=1).numpy()

    @torch.no_grad()
    def text(captions):
        return normalize(model.encode_text(*tokenize(captions)), dim=-1).numpy()
    return image, text


def export_terralens(args):
    """Export the default TerraLens model from a training checkpoint; returns the folder."""
    from ..model.model import CONTEXT_LENGTH, EMBED_DIM, IMAGE_MEAN, IMAGE_STD
    from .onnx_export import TerraLensImage
    model, metadata, size = load_terralens(args.checkpoint, args.image_size)
    bundle_id = args.id or Path(args.out).resolve().name
    image_module, references = TerraLensImage(model), terralens_references(model)
    dense_grid, head_info = (model.dense_grid, model.dense_stride), None
    if getattr(args, "dense_head", None):
        from ..dense_head.dense_head import attach_head
        image_module, references, dense_grid, head_info = attach_head(
            model, args.dense_head, references[1])
    with staged_folder(args.out) as stage:
        pixels = torch.zeros(2, 3, size, size)
        names = ["image_embeds", "dense_features"]
        export_onnx(image_module, (pixels,), ["pixel_values"], names,
                    batch_axes(["pixel_values"] + names), stage / "image.onnx")
        reduce_precision(stage / "image.onnx", args.image_precision)
        write_text_onnx(model, stage / "text.onnx", args.text_precision)
        save_projection(model, stage / PROJECTION_FILE)
        text = TextSpec(tokenizer="wordpiece", vocab_file=wordpiece_vocab(stage),
                        context_length=CONTEXT_LENGTH, lower_case=True)
        image = ImageSpec(size=size, mean=list(IMAGE_MEAN), std=list(IMAGE_STD),
                          dense_grid=dense_grid[0], dense_stride=dense_grid[1])
        bundle = Bundle(id=bundle_id, name=args.name or bundle_id, embedding_dim=EMBED_DIM,
                        logit_scale=float(model.logit_scale.detach().exp()), image=image,
                        text=text, tile_size=size, gsd_m=float(args.gsd_m),
                        provenance=provenance(args, metadata, str(args.checkpoint)))
        if head_info:
            bundle.provenance["dense_head"] = head_info
        finish_bundle(bundle, stage, args, references)
        # text.onnx is built from this bundle.json: mark it current for `--text-only`.
        os.utime(stage / "text.onnx")
    return Path(args.out)


def save_projection(model, path):
    """The trained text projection, from which `--text-only` rebuilds text.onnx."""
    from safetensors.torch import save_file
    save_file({PROJECTION_KEY: model.text.proj.weight.detach().cpu().contiguous()}, str(path))


def text_onnx_is_current(folder, bundle):
    """Whether text.onnx exists and is newer than the projection, bundle.json and MiniLM."""
    from ..model.model import minilm_dir
    target = folder / bundle.text.file
    inputs = [folder / PROJECTION_FILE, folder / BUNDLE_FILE, minilm_dir() / "model.safetensors"]
    return target.is_file() and all(target.stat().st_mtime > p.stat().st_mtime for p in inputs)


def export_text_only(out, force=False, data_dir=None):
    """(Re)build text.onnx of a default-model bundle from MiniLM and its stored projection.

    Returns:
        True when text.onnx was built, False when it was already current.
    """
    from safetensors.torch import load_file

    from terralens.plugin.core.atomic import atomic_path
    from terralens.plugin.core.encoders import TextEncoder
    from terralens.plugin.core.onnx_session import open_session
    from terralens.plugin.core.tokenizers import make_tokenizer

    from ..model.model import create_model
    folder = Path(out)
    bundle = read_bundle_json(folder)
    projection = folder / PROJECTION_FILE
    if not projection.is_file():
        raise FileNotFoundError(f"{projection} is missing: --text-only rebuilds text.onnx of a "
                                "bundle made by a full export of the default model")
    if not force and text_onnx_is_current(folder, bundle):
        print(f"{folder / bundle.text.file} is up to date")
        return False
    precision = bundle.provenance.get("text_precision", "fp32")
    model = create_model(image_size=bundle.image.size, pretrained=False)
    with torch.no_grad():
        model.text.proj.weight.copy_(load_file(str(projection))[PROJECTION_KEY])
    with atomic_path(folder / bundle.text.file) as tmp:
        write_text_onnx(model, tmp, precision)
        encoder = TextEncoder(bundle, open_session(tmp), make_tokenizer(bundle))
        figures = parity.text_parity(encoder, terralens_references(model)[1],
                                     parity.parity_captions(data_dir),
                                     parity.THRESHOLDS[precision])
        print("text parity:\n" + parity.format_figures(figures))
        parity.enforce(figures)
    print(f"wrote {folder / bundle.text.file} ({precision})")
    return True


def export_scale_only(args):
    """Write the range of scales into an existing bundle's bundle.json (nothing else changes).

    Raises:
        ValueError: the bundle's provenance does not say what it was trained on and no
            --gsd-range-m was given.
    """
    folder = Path(args.out)
    bundle = read_bundle_json(folder)
    text_current = text_onnx_is_current(folder, bundle) if (folder / PROJECTION_FILE).is_file() \
        else False
    bundle.scale = scale_from_args(args, bundle)
    if bundle.scale is None:
        raise ValueError(f"{folder}: its provenance does not say what it was trained on; give "
                         "the range with --gsd-range-m FINEST COARSEST")
    bundle.schema_version = SCHEMA_VERSION
    save_bundle(bundle, folder)
    if text_current:  # only `scale` changed: text.onnx is still what bundle.json describes
        os.utime(folder / bundle.text.file)
    print(f"{folder / BUNDLE_FILE}: scale {bundle.scale.gsd_range_m[0]:g}-"
          f"{bundle.scale.gsd_range_m[1]:g} m a model pixel, at most "
          f"{bundle.scale.max_upsampling:g}x enlargement")
    return folder
