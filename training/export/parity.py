"""Parity of an exported bundle: torch against onnxruntime on real images and captions."""

import csv
import os
from pathlib import Path

import numpy as np

# Read at call time, so a caller can lower them for big models in tests.
N_IMAGES = 16
N_CAPTIONS = 64
# Minimum cosine between torch and ONNX outputs. Reduced-precision text models get their own
# (measured) floors, written into bundle.json beside the figures reached.
THRESHOLDS = {"fp32": 0.999, "fp16": 0.999, "int8": 0.98}
REPO_ROOT = Path(__file__).resolve().parents[2]


class ParityError(RuntimeError):
    """The exported ONNX models do not reproduce the torch model."""


def default_data_dir():
    """The real data folder: $TERRALENS_SHARED_DATA, else `../shared/data` beside the checkout."""
    return Path(os.environ.get("TERRALENS_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


def _require(path, what):
    if not path.exists():
        raise FileNotFoundError(f"the parity check needs {what} at {path}; pass --parity-data "
                                "or set TERRALENS_SHARED_DATA to the real data folder")
    return path


def parity_images(size, data_dir=None, count=None):
    """`count` (default N_IMAGES) UC Merced images, one per class in turn, resized.

    Returns:
        float32 (N, 3, S, S) in [0, 1].
    """
    from PIL import Image
    count = count or N_IMAGES
    root = _require(Path(data_dir or default_data_dir()) / "ucm" / "images", "UC Merced images")
    classes = sorted(p for p in root.iterdir() if p.is_dir())
    images = []
    for index in range(count):
        files = sorted(classes[index % len(classes)].glob("*.webp"))
        with Image.open(files[(index // len(classes)) % len(files)]) as image:
            resized = image.convert("RGB").resize((size, size), Image.BILINEAR)
        images.append(np.asarray(resized, np.float32).transpose(2, 0, 1) / 255.0)
    return np.stack(images)


def parity_captions(data_dir=None, count=None):
    """`count` (default N_CAPTIONS) distinct UCM captions spread over the whole file."""
    count = count or N_CAPTIONS
    path = _require(Path(data_dir or default_data_dir()) / "captions_ucm.tsv", "UCM captions")
    with open(path, encoding="utf-8", newline="") as handle:
        rows = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        captions = list(dict.fromkeys(row["caption"].strip() for row in rows))
    picks = np.linspace(0, len(captions) - 1, num=min(count, len(captions))).round().astype(int)
    return [captions[i] for i in picks]


def cosine_figures(reference, exported, axis=1):
    """{"min", "mean"} cosine between matching vectors along `axis`."""
    def unit(array):
        array = np.asarray(array, np.float64)
        return array / np.maximum(np.linalg.norm(array, axis=axis, keepdims=True), 1e-12)
    cosines = (unit(reference) * unit(exported)).sum(axis=axis)
    return {"min": round(float(cosines.min()), 6), "mean": round(float(cosines.mean()), 6)}


def image_parity(image_encoder, reference, pixels, threshold):
    """Compare a core `ImageEncoder` with `reference(pixels) -> (embeds, dense or None)`."""
    ref_embeds, ref_dense = reference(pixels)
    embeds, dense = image_encoder.encode(pixels)
    figures = {"image_embeds": dict(cosine_figures(ref_embeds, embeds), threshold=threshold)}
    if ref_dense is not None or dense is not None:
        if ref_dense is None or dense is None:
            raise ParityError("torch and ONNX disagree on whether there is a dense output")
        figures["dense_features"] = dict(cosine_figures(ref_dense, dense), threshold=threshold)
    return figures


def text_parity(text_encoder, reference, captions, threshold):
    """Compare a core `TextEncoder` (its own tokenizer) with `reference(captions) -> embeds`."""
    figures = cosine_figures(reference(captions), text_encoder.encode(captions))
    return {"text_embeds": dict(figures, threshold=threshold)}


def enforce(figures):
    """Raise `ParityError` naming every output whose minimum cosine is under its threshold."""
    failed = [f"{name}: min cosine {value['min']} < {value['threshold']}"
              for name, value in figures.items()
              if isinstance(value, dict) and value["min"] < value["threshold"]]
    if failed:
        raise ParityError("ONNX export does not match torch (" + "; ".join(failed) + ")")


def format_figures(figures):
    """One line per output: name, min and mean cosine, threshold."""
    return "\n".join(f"  {name}: min cosine {value['min']:.6f}, mean {value['mean']:.6f} "
                     f"(threshold {value['threshold']})"
                     for name, value in figures.items() if isinstance(value, dict))
