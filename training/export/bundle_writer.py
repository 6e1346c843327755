"""Writing a bundle folder: staging and swapping it in, provenance, parity, the card stub."""

import contextlib
import json
import shutil
import tempfile
from pathlib import Path

import torch

from terralens.plugin.core.bundle import BUNDLE_FILE, Bundle, save_bundle

from . import parity

MODEL_CARD_STUB = """# {id}

Placeholder written by `python -m training export`: the model card is written by hand once the model
is evaluated. Until then see `bundle.json` (`provenance`) for the recipe, data, revision and
the export's parity figures.
"""


@contextlib.contextmanager
def staged_folder(out):
    """Yield an empty temporary sibling of `out`; on success it replaces `out`.

    Files of an existing `out` that the export did not write (the hand-written MODEL_CARD.md,
    evaluation notes) are carried over. On an exception the stage is deleted and `out` is left
    as it was.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".export", dir=out.parent))
    try:
        yield stage
        publish(stage)
        if out.is_dir():
            for item in out.iterdir():
                if not (stage / item.name).exists():
                    copy = shutil.copytree if item.is_dir() else shutil.copy2
                    copy(item, stage / item.name)
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            out.replace(old / out.name)
            stage.replace(out)
            shutil.rmtree(old)
        else:
            stage.replace(out)
    finally:
        if stage.exists():
            shutil.rmtree(stage)


def publish(stage):
    """Give the staged folder and its files ordinary permissions (mkdtemp makes them private)."""
    stage.chmod(0o755)
    for path in stage.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)


def provenance(args, metadata, source):
    """bundle.json's provenance: the checkpoint's info plus how this export was made."""
    from ..model.checkpoint import git_revision
    known = {"recipe": metadata.get("recipe"), "data": metadata.get("data", metadata.get("pack")),
             "git_revision": metadata.get("git_revision")}
    record = {**known, "source": source, "export_git_revision": git_revision(),
              "exporter": "training/export/export.py", "torch": torch.__version__,
              "text_precision": args.text_precision,
              "image_precision": getattr(args, "image_precision", "fp32")}
    extra = {key: value for key, value in metadata.items()
             if key not in known and key != "pack" and _is_json(value)}
    if extra:
        record["training"] = extra
    if args.evaluation:
        record["evaluation"] = json.loads(Path(args.evaluation).read_text(encoding="utf-8"))
    return record


def _is_json(value):
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def finish_bundle(bundle, stage, args, references):
    """Write bundle.json (with the range of scales), check parity through the plugin's own
    loader, add a card stub.

    Args:
        bundle: the `Bundle` to write into `stage`.
        stage: the staging folder holding the ONNX files.
        args: the exporter's arguments (`out`, `parity_data`, `text_precision`, and
            `gsd_range_m`, `max_upsampling` for the range of scales when the bundle has none).
        references: (image(pixels) -> (embeds, dense or None), text(captions) -> embeds), the
            torch model's unit-length outputs.

    Raises:
        ParityError: an output's minimum cosine is below its threshold.
    """
    from terralens.plugin.core.encoders import load_model

    from .scale_range import scale_from_args
    if bundle.scale is None:
        bundle.scale = scale_from_args(args, bundle)
    save_bundle(bundle, stage)
    image_ref, text_ref = references
    loaded = load_model(stage)
    pixels = parity.parity_images(bundle.image.size, args.parity_data)
    captions = parity.parity_captions(args.parity_data)
    figures = parity.image_parity(loaded.image, image_ref, pixels, parity.THRESHOLDS["fp32"])
    figures.update(parity.text_parity(loaded.text, text_ref, captions,
                                      parity.THRESHOLDS[args.text_precision]))
    print(f"parity of {bundle.id} ({len(pixels)} images, {len(captions)} captions):\n"
          + parity.format_figures(figures))
    parity.enforce(figures)
    bundle.provenance["parity"] = dict(figures, images=len(pixels), captions=len(captions))
    save_bundle(bundle, stage)
    if not (Path(args.out) / "MODEL_CARD.md").exists():
        (stage / "MODEL_CARD.md").write_text(MODEL_CARD_STUB.format(id=bundle.id),
                                             encoding="utf-8")
    sizes = {path.name: round(path.stat().st_size / 1e6, 1) for path in stage.glob("*.onnx")}
    print(f"bundle {bundle.id}: " + ", ".join(f"{k} {v} MB" for k, v in sorted(sizes.items())))


def read_bundle_json(folder):
    """The bundle of `folder` without requiring its ONNX files to exist yet."""
    path = Path(folder) / BUNDLE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no {BUNDLE_FILE} in {folder}: run a full export first")
    return Bundle.from_dict(json.loads(path.read_text(encoding="utf-8")), folder=Path(folder))
