"""Zero-shot and retrieval of a torch model by the DATA.md protocol, without an ONNX export.

It reuses `training.evaluate`'s prompt, class phrases, data readers and metrics, so its figures
compare with `python -m training evaluate` on the exported bundle (which differs only in ONNX
numerics and, without GDAL, in Pillow's box filter standing in for GDAL's average resampling).
The images are read once and kept as uint8 (lossless: every evaluation image is 8-bit); each
model (e.g. each WiSE-FT mix) then only re-runs its image tower on them.
"""

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn.functional import normalize as unit_length

from ..evaluate import tasks as eval_tasks
from ..evaluate.data import class_phrase, image_reader, list_image_folder, read_captions, read_image
from ..evaluate.evaluate import CAPTION_SETS, CLASS_SETS, TEMPLATE

RSICD_TABLE, _, _, RSICD_NOTE = CAPTION_SETS["rsicd_aid_test"]
UCM_TABLE = CAPTION_SETS["ucm_captions"][0]
RETRIEVAL_SETS = {  # name: (table, split, note)
    "rsicd_aid_test": (RSICD_TABLE, "test", RSICD_NOTE),
    "ucm_captions_test": (UCM_TABLE, "test", "UCM-Captions test split (210 images, 5 captions "
                          "an image)"),
    "ucm_captions_all": (UCM_TABLE, None, "all rows of UCM-Captions (train and test), the set "
                         "`python -m training evaluate` reports"),
}
BATCH = 64


@dataclass
class EvalSuite:
    """Evaluation images (uint8, read once), their tasks and every text the tasks encode.

    Attributes:
        pixels: (images, 3, size, size) uint8, one row per distinct image file.
        paths: the file of each row.
        zero_shot: {set: (rows, labels, class names, prompts)}.
        retrieval: {set: (rows, captions, caption_image)}; caption j shows `rows[caption_image[j]]`.
    """

    size: int
    reader: str
    pixels: np.ndarray
    paths: list
    zero_shot: dict = field(default_factory=dict)
    retrieval: dict = field(default_factory=dict)

    def texts(self):
        """Every distinct text of the tasks (prompts and captions), sorted."""
        texts = {t for *_, prompts in self.zero_shot.values() for t in prompts}
        texts.update(t for _, captions, _ in self.retrieval.values() for t in captions)
        return sorted(texts)


def load_suite(data_root, size, limit=None, threads=1, zero_shot_sets=tuple(CLASS_SETS),
               retrieval_sets=tuple(RETRIEVAL_SETS)):
    """Read the evaluation sets of `data_root` at `size` pixels.

    Args:
        data_root: the shared data folder (ucm/, rsscn7/, aid/, caption tables).
        size: image side fed to the model.
        limit: first `limit` images of every class (quick checks; None: the whole protocol).
        threads: image decoding threads.
    """
    data_root = Path(data_root)
    rows_of, reader = {}, image_reader()

    def rows(paths):
        for path in paths:
            rows_of.setdefault(str(Path(path).resolve()), len(rows_of))
        return np.asarray([rows_of[str(Path(p).resolve())] for p in paths], np.int64)

    zero_shot, retrieval = {}, {}
    for name in zero_shot_sets:
        folder = list_image_folder(data_root / CLASS_SETS[name], limit)
        prompts = [TEMPLATE.format(class_phrase(c)) for c in folder.class_names]
        zero_shot[name] = (rows(folder.paths), folder.labels, folder.class_names, prompts)
    for name in retrieval_sets:
        table, split, _ = RETRIEVAL_SETS[name]
        captions = read_captions(data_root / table, data_root, split, limit)
        retrieval[name] = (rows(captions.image_paths), captions.captions, captions.caption_image)
    paths = list(rows_of)
    with ThreadPoolExecutor(max(1, threads)) as pool:
        pixels = list(pool.map(lambda p: _as_uint8(read_image(p, size, reader)), paths))
    return EvalSuite(size, reader, np.stack(pixels), paths, zero_shot, retrieval)


def _as_uint8(unit_pixels):
    return np.round(unit_pixels * 255.0).astype(np.uint8)


@torch.no_grad()
def embed_images(encode, pixels, mean, std, progress=""):
    """Unit embeddings (N, D) float32 of uint8 pixels through `encode(normalised batch)`."""
    mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    out, started = [], time.monotonic()
    for start in range(0, len(pixels), BATCH):
        batch = torch.from_numpy(pixels[start:start + BATCH]).float().div_(255.0)
        batch = ((batch - mean) / std).contiguous(memory_format=torch.channels_last)
        out.append(unit_length(encode(batch).float(), dim=-1).numpy())
    if progress:
        seconds = time.monotonic() - started
        print(f"{progress}: {len(pixels)} images in {seconds:.0f} s", file=sys.stderr,
              flush=True)
    return np.concatenate(out).astype(np.float32)


def evaluate_suite(suite, encode_images, encode_texts, mean, std, progress=""):
    """Zero-shot top-1 and retrieval recalls of one model on a loaded suite.

    Args:
        encode_images: normalised (B, 3, s, s) float tensor -> (B, D) embeddings.
        encode_texts: list of texts -> (N, D) numpy embeddings (any length; made unit here).
        mean, std: the model's pixel normalisation.

    Returns:
        {"zeroshot": {set: {"top1", "per_class"}}, "retrieval": {set: recalls}}; percent.
    """
    images = embed_images(encode_images, suite.pixels, mean, std, progress)
    texts = suite.texts()
    vectors = np.asarray(encode_texts(texts), np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    # Each distinct text is encoded once, so identical captions tie exactly (eval_tasks' rule).
    text_row = {text: number for number, text in enumerate(texts)}

    def text_vectors(items):
        return vectors[[text_row[t] for t in items]]

    results = {"zeroshot": {}, "retrieval": {}}
    for name, (rows, labels, class_names, prompts) in suite.zero_shot.items():
        predicted = eval_tasks.zero_shot_predictions(images[rows], text_vectors(prompts))
        report = eval_tasks.accuracy_report(predicted, labels, class_names)
        results["zeroshot"][name] = {"images": len(rows), **report}
    for name, (rows, captions, caption_image) in suite.retrieval.items():
        recalls = eval_tasks.retrieval_recalls(images[rows], text_vectors(captions),
                                               caption_image)
        results["retrieval"][name] = {"images": len(rows), "captions": len(captions), **recalls}
    return results


def suite_notes(suite):
    """What the figures of a suite are, for the results JSON."""
    return {"template": TEMPLATE, "image_size": suite.size, "image_reader": suite.reader,
            "images": len(suite.paths),
            "retrieval_sets": {name: {"table": RETRIEVAL_SETS[name][0],
                                      "split": RETRIEVAL_SETS[name][1] or "all",
                                      "note": RETRIEVAL_SETS[name][2]}
                               for name in suite.retrieval}}


def seen_images(suite, training_paths):
    """{task set: how many of its images the fine-tuning saw} (non-zero: not zero-shot)."""
    seen = {str(Path(p).resolve()) for p in training_paths}
    hit = np.asarray([path in seen for path in suite.paths])
    sets = {**{n: v[0] for n, v in suite.zero_shot.items()},
            **{n: v[0] for n, v in suite.retrieval.items()}}
    return {name: int(hit[rows].sum()) for name, rows in sets.items()}
