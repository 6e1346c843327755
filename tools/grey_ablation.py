"""AID validation on colour and on grey images, for training checkpoints (the grey ablation).

A one-band raster (panchromatic, black-and-white photos) reaches the model as its band repeated
to R, G and B; this measures what that costs a checkpoint, and so what `augment.grayscale` buys.

    # training venv: embeddings of the 1,027 RSICD-on-AID test images, colour and Rec. 601 grey
    PYTHONPATH=$PWD/.pkg .venv-train/bin/python tools/grey_ablation.py embed CKPT OUT.npz
    # QGIS venv: the same for an exported bundle, through the plugin's encoder (GDAL reads)
    PYTHONPATH=$PWD/.pkg .venv/bin/python tools/grey_ablation.py embed-bundle BUNDLE OUT.npz
    # QGIS venv (the few-shot classifier is the plugin's): one JSON line a run
    PYTHONPATH=$PWD/.pkg .venv/bin/python tools/grey_ablation.py score OUT.npz [...]

Zero-shot with the template `a remote sensing image of a {}.`, one view, and 5 examples a
class without text (the fewshot-select seeds). UC Merced and RSSCN7 are not read.
"""

import argparse
import json
from pathlib import Path

import numpy as np

LUMA = (0.299, 0.587, 0.114)  # as training.data.augment.LUMA
BATCH = 128


def aid_validation():
    """The RSICD-on-AID test images as a classification set (never trained on)."""
    try:
        from training.evaluate.data import DEFAULT_DATA_ROOT, read_scene_classes
    except ImportError:  # the QGIS venv knows the package as terralens.training
        from terralens.training.evaluate.data import DEFAULT_DATA_ROOT, read_scene_classes
    root = Path(DEFAULT_DATA_ROOT)
    return read_scene_classes(root / "captions_rsicd_aid.tsv", root, "test")


def luma(pixels):
    """(B, 1, H, W) grey of (B, 3, H, W) colour pixels."""
    return np.tensordot(np.float32(LUMA), pixels, axes=([0], [1]))[:, None]


def accuracies(images, text, labels):
    """Top-1 (%) of unit image embeddings: zero-shot against the class texts, and with 5
    examples a class without text (the fewshot-select seeds, the plugin's classifier)."""
    from terralens.training.evaluate.fewshot import kshot_accuracy
    from terralens.training.evaluate.fewshot_select import SEEDS

    names = [str(n) for n in range(len(text))]
    zero_shot = np.mean((images @ text.T).argmax(1) == labels) * 100
    five = kshot_accuracy(images, labels, names, 5, SEEDS, None, refine=False)["top1"]
    return {"zero_shot": round(float(zero_shot), 2), "5_shot": round(five, 2)}


def embed(checkpoint, out):
    """Unit image embeddings (colour and grey), class text embeddings and labels into `out`."""
    import torch
    from PIL import Image

    from training.evaluate.data import class_phrase
    from training.model.checkpoint import load_checkpoint
    from training.model.model import IMAGE_MEAN, IMAGE_STD, create_model, tokenize

    folder = aid_validation()
    model = create_model(128, pretrained=False, text_weights=True)
    info = load_checkpoint(model, checkpoint)
    model.eval()
    colour = np.stack([np.asarray(Image.open(p).convert("RGB").resize((128, 128), Image.BOX))
                       .transpose(2, 0, 1) / np.float32(255) for p in folder.paths])
    grey = np.repeat(luma(colour), 3, 1)
    mean = torch.tensor(IMAGE_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGE_STD).view(1, 3, 1, 1)
    unit = torch.nn.functional.normalize
    with torch.no_grad():
        ids, mask = tokenize([f"a remote sensing image of a {class_phrase(c)}."
                              for c in folder.class_names])
        arrays = {"text": unit(model.encode_text(ids, mask), dim=-1).numpy()}
        for name, pixels in (("colour", colour), ("grey", grey)):
            arrays[name] = np.concatenate([
                unit(model.encode_image((torch.from_numpy(pixels[i:i + BATCH]).float() - mean)
                                        / std), dim=-1).numpy()
                for i in range(0, len(pixels), BATCH)])
    recall = (info.get("val") or {}).get("mean_recall", float("nan"))
    np.savez(out, labels=folder.labels, heldout_recall=np.float64(recall), **arrays)


def embed_bundle(bundle, out):
    """What `embed` writes, for a bundle (ONNX), one view a tile; no held-out recall."""
    from terralens.plugin.core.encoders import load_model
    from terralens.training.evaluate.data import class_phrase, image_reader, read_image
    from terralens.training.evaluate.evaluate import TEMPLATE

    folder = aid_validation()
    model = load_model(bundle)
    size = model.bundle.image.size
    colour = np.stack([read_image(p, size, image_reader()) for p in folder.paths])
    grey = np.repeat(luma(colour), 3, 1)
    arrays = {"text": model.text.encode([TEMPLATE.format(class_phrase(c))
                                         for c in folder.class_names])}
    for name, pixels in (("colour", colour), ("grey", grey)):
        arrays[name] = np.concatenate([model.image.encode_embeddings(pixels[i:i + BATCH], 1)
                                       for i in range(0, len(pixels), BATCH)])
    np.savez(out, labels=folder.labels, heldout_recall=np.float64("nan"), **arrays)


def score(path):
    """Zero-shot and 5-shot accuracy (percent) on colour and grey, and the held-out recall."""
    data = np.load(path)
    recall = float(data["heldout_recall"])
    row = {"run": str(path), "heldout_recall": None if np.isnan(recall) else round(recall, 2)}
    for kind in ("colour", "grey"):
        figures = accuracies(data[kind], data["text"], data["labels"])
        row[f"{kind}_zero_shot"], row[f"{kind}_5shot"] = figures["zero_shot"], figures["5_shot"]
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    one = verbs.add_parser("embed")
    one.add_argument("checkpoint")
    one.add_argument("out")
    bundle = verbs.add_parser("embed-bundle")
    bundle.add_argument("bundle")
    bundle.add_argument("out")
    many = verbs.add_parser("score")
    many.add_argument("npz", nargs="+")
    args = parser.parse_args()
    if args.verb == "embed":
        embed(args.checkpoint, args.out)
    elif args.verb == "embed-bundle":
        embed_bundle(args.bundle, args.out)
    else:
        for path in args.npz:
            print(json.dumps(score(path)))


if __name__ == "__main__":
    main()
