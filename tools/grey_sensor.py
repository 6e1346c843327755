"""Add the `pan` image encoder to a bundle: its RGB encoder fed the grey band, plus an
embedding map fitted so that grey scenes land where their colour versions do.

    .venv-train/bin/python tools/grey_sensor.py adapter models/terralens-effnet-minilm-v1  # onnx
    PYTHONPATH=$PWD/.pkg .venv/bin/python tools/grey_sensor.py fit models/terralens-effnet-minilm-v1
    # once chosen: UC Merced and RSSCN7 turned grey, zero-shot, `rgb` against `pan`, BUNDLE as above
    PYTHONPATH=$PWD/.pkg .venv/bin/python tools/grey_sensor.py measure BUNDLE

A one-band raster was read as its band repeated to R, G and B; the default model (trained on
colour only) then names far fewer AID validation scenes right (README, "Other sensors"). The
map is a ridge regression from grey to colour embeddings (with a bias), fitted on the AID
*train* images (`captions_rsicd_aid.tsv`, split train; never UC Merced, RSSCN7 or the test
split), its penalty chosen by 5-fold cross-validation on those images (mean cosine). The
`pan` encoder's band adapter repeats the band (`adapter_pan.onnx`, no weights), so its dense
maps, which prompt masks use, are exactly the RGB encoder's on the repeated band.
Validation figures (AID validation images, one view) are printed and kept in the bundle's
provenance. Writes `adapter_pan.onnx` (`adapter`, which needs the onnx package of the training
venv) and `embedding_map_pan.npy` (`fit`, float16) into the bundle.
"""

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools.grey_ablation import BATCH, accuracies  # noqa: E402
from tools.grey_ablation import luma as grey  # noqa: E402

PENALTIES = (0.01, 0.1, 1.0, 10.0, 100.0)
FOLDS = 5
ADAPTER, MAP = "adapter_pan.onnx", "embedding_map_pan.npy"


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def train_embeddings(model, data_root):
    """Unit embeddings (colour, grey repeated to RGB) of the AID train images, one view."""
    from terralens.training.evaluate.data import _caption_rows, image_reader, read_image

    root = Path(data_root)
    images = sorted({row["image"] for row in _caption_rows(root / "captions_rsicd_aid.tsv",
                                                           "train")})
    size, colour, grey_out = model.bundle.image.size, [], []
    for start in range(0, len(images), BATCH):
        pixels = np.stack([read_image(root / name, size, image_reader())
                           for name in images[start:start + BATCH]])
        colour.append(model.image.encode_embeddings(pixels, 1))
        grey_out.append(model.image.encode_embeddings(np.repeat(grey(pixels), 3, 1), 1))
    return np.concatenate(colour).astype(np.float64), np.concatenate(grey_out).astype(np.float64)


def ridge(inputs, targets, penalty):
    """(dim + 1, dim) least squares map of [inputs, 1] to targets; the bias is not penalised."""
    design = np.hstack([inputs, np.ones((len(inputs), 1))])
    gram = design.T @ design + penalty * np.eye(design.shape[1])
    gram[-1, -1] -= penalty
    return np.linalg.solve(gram, design.T @ targets)


def mapped(matrix, embeddings):
    return unit(embeddings @ matrix[:-1] + matrix[-1])


def choose_penalty(grey_embeddings, colour_embeddings):
    """{penalty: mean held-out cosine} over FOLDS folds by image index, and the best one."""
    folds = np.arange(len(grey_embeddings)) % FOLDS
    scores = {}
    for penalty in PENALTIES:
        cosines = []
        for fold in range(FOLDS):
            fit, held = folds != fold, folds == fold
            matrix = ridge(grey_embeddings[fit], colour_embeddings[fit], penalty)
            cosines.append(np.mean(np.sum(mapped(matrix, grey_embeddings[held])
                                          * colour_embeddings[held], axis=1)))
        scores[penalty] = round(float(np.mean(cosines)), 5)
    return scores, max(scores, key=scores.get)


def write_repeat_adapter(path):
    """`pixel_values` (B, 1, H, W) -> `adapted_pixels` (B, 3, H, W): the band three times."""
    import onnx
    from onnx import TensorProto, helper

    source = helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT,
                                           ["batch", 1, "height", "width"])
    target = helper.make_tensor_value_info("adapted_pixels", TensorProto.FLOAT,
                                           ["batch", 3, "height", "width"])
    node = helper.make_node("Concat", ["pixel_values"] * 3, ["adapted_pixels"], axis=1)
    graph = helper.make_graph([node], "repeat_band", [source], [target])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # readable by onnxruntime 1.15 and later
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def validation_figures(bundle_dir, data_root):
    """AID validation (1,027 RSICD-on-AID test images), one view: zero-shot and 5 examples a
    class without text, in colour, grey through the RGB encoder, and grey through `pan`."""
    from terralens.plugin.core.encoders import load_model
    from terralens.training.evaluate.data import (
        class_phrase,
        image_reader,
        read_image,
        read_scene_classes,
    )
    from terralens.training.evaluate.evaluate import TEMPLATE

    model = load_model(bundle_dir)
    root = Path(data_root)
    folder = read_scene_classes(root / "captions_rsicd_aid.tsv", root, "test")
    pixels = np.stack([read_image(p, model.bundle.image.size, image_reader())
                       for p in folder.paths])
    text = model.text.encode([TEMPLATE.format(class_phrase(c)) for c in folder.class_names])
    inputs = {"colour": (model.image, pixels),
              "grey, RGB encoder": (model.image, np.repeat(grey(pixels), 3, 1)),
              "grey, pan encoder": (model.image_for("pan"), grey(pixels))}
    figures = {}
    for name, (encoder, batch) in inputs.items():
        embeddings = np.concatenate([encoder.encode_embeddings(batch[i:i + BATCH], 1)
                                     for i in range(0, len(batch), BATCH)])
        figures[name] = accuracies(embeddings, text, folder.labels)
    return figures


def measure(bundle_dir, data_root, limit=None):
    """Zero-shot top-1 (%) on UC Merced and RSSCN7 (the protocol's template, one view): in
    colour, grey through `rgb` (the band repeated) and grey through `pan`."""
    from terralens.plugin.core.encoders import load_model
    from terralens.training.evaluate.data import (
        class_phrase,
        image_reader,
        list_image_folder,
        read_image,
    )
    from terralens.training.evaluate.evaluate import TEMPLATE

    model, root, figures = load_model(bundle_dir), Path(data_root), {}
    for name, folder in (("ucm", root / "ucm" / "images"), ("rsscn7", root / "rsscn7")):
        data = list_image_folder(folder, limit)
        text = model.text.encode([TEMPLATE.format(class_phrase(c)) for c in data.class_names])
        runs = {"colour": [], "grey, rgb": [], "grey, pan": []}
        for start in range(0, len(data.paths), BATCH):
            pixels = np.stack([read_image(p, model.bundle.image.size, image_reader())
                               for p in data.paths[start:start + BATCH]])
            runs["colour"].append(model.image.encode_embeddings(pixels, 1))
            runs["grey, rgb"].append(model.image.encode_embeddings(np.repeat(grey(pixels), 3, 1)))
            runs["grey, pan"].append(model.image_for("pan").encode_embeddings(grey(pixels)))
        figures[name] = {run: round(float(np.mean(
            (np.concatenate(parts) @ text.T).argmax(1) == data.labels) * 100), 2)
            for run, parts in runs.items()}
    return figures


def pan_spec(main):
    """The `pan` encoder of a bundle whose RGB encoder is `main`: the same network fed the
    band repeated (`ADAPTER`), its embeddings moved by the map (`MAP`)."""
    return replace(main, bands=["pan"], mean=main.mean[:1], std=main.std[:1], name="pan",
                   description="one band (panchromatic, grey): the RGB encoder on the band "
                               "repeated, embeddings mapped towards colour (ridge fit on AID "
                               "train images turned grey)",
                   adapter=ADAPTER, embedding_map=MAP)


def add_pan_sensor(bundle_dir, data_root):
    """Fit the map, write it, add the `pan` encoder and its provenance to the bundle (the
    adapter must be there: the `adapter` verb, in the training venv, writes it)."""
    from terralens.plugin.core.bundle import load_bundle, save_bundle
    from terralens.plugin.core.encoders import load_model

    bundle_dir = Path(bundle_dir)
    if not (bundle_dir / ADAPTER).is_file():
        raise SystemExit(f"no {ADAPTER} in {bundle_dir}: run the `adapter` verb first")
    model = load_model(bundle_dir)
    colour, grey_embeddings = train_embeddings(model, data_root)
    scores, penalty = choose_penalty(grey_embeddings, colour)
    matrix = ridge(grey_embeddings, colour, penalty)
    np.save(bundle_dir / MAP, matrix.astype(np.float16))
    bundle = load_bundle(bundle_dir)
    sensors = [s for s in bundle.sensors if s.name != "pan"] + [pan_spec(bundle.image)]
    provenance = dict(bundle.provenance)
    provenance.setdefault("sensors", {})["pan"] = {
        "fit": "ridge regression, grey (Rec. 601 luma) to colour unit embeddings, one view",
        "images": f"AID train split of captions_rsicd_aid.tsv ({len(colour)} images)",
        "penalty": penalty, "cross_validated_cosine": scores,
        "train_cosine_before": round(float(np.mean(np.sum(grey_embeddings * colour, 1))), 5),
        "tool": "tools/grey_sensor.py"}
    save_bundle(replace(bundle, sensors=sensors, provenance=provenance), bundle_dir)
    figures = validation_figures(bundle_dir, data_root)
    provenance["sensors"]["pan"]["aid_validation_one_view"] = figures
    save_bundle(replace(load_bundle(bundle_dir), provenance=provenance), bundle_dir)
    return provenance["sensors"]["pan"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("verb", choices=("adapter", "fit", "measure"))
    parser.add_argument("bundle", help="bundle folder (its RGB encoder is the one mapped)")
    parser.add_argument("--data", help="shared data folder (default: the evaluator's)")
    parser.add_argument("--limit", type=int, help="measure: at most this many images a class")
    args = parser.parse_args()
    if args.verb == "adapter":
        write_repeat_adapter(Path(args.bundle) / ADAPTER)
        return
    from terralens.training.evaluate.data import DEFAULT_DATA_ROOT
    data = args.data or DEFAULT_DATA_ROOT
    result = (measure(args.bundle, data, args.limit) if args.verb == "measure"
              else add_pan_sensor(args.bundle, data))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
