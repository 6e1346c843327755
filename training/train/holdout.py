"""Quick validation while training: retrieval recall on a held-out slice of the TRAIN images."""

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 (the PyTorch convention)

from ..data.augment import normalize, to_unit_float
from ..evaluate.tasks import retrieval_recalls


def holdout_split(count, fraction, max_images, seed, eligible=None):
    """Split image indices into (train, val): a seeded random `fraction` (at most `max_images`).

    Only `eligible` indices (default: all) may go to validation; the rest always train.
    Never pass a test split here: this slice is for choosing the epoch, inside the train split.
    """
    everything = np.arange(count)
    eligible = everything if eligible is None else np.asarray(eligible)
    wanted = min(int(round(fraction * count)), max_images or count, len(eligible))
    if fraction <= 0 or wanted < 2:
        return everything, np.zeros(0, np.int64)
    val = np.sort(np.random.default_rng(seed).permutation(eligible)[:wanted])
    return np.setdiff1d(everything, val), val


@torch.no_grad()
def embed_images(model, images_uint8, size, mean, std, batch_size, autocast):
    """Unit image embeddings (N, D) float32 of a uint8 (N, H, W, 3) tensor, without augmentation."""
    parts = []
    for start in range(0, len(images_uint8), batch_size):
        batch = normalize(to_unit_float(images_uint8[start:start + batch_size], size), mean, std)
        with autocast():
            parts.append(F.normalize(model.encode_image(batch).float(), dim=-1))
    return torch.cat(parts)


@torch.no_grad()
def quick_retrieval(model, images_uint8, caption_rows, text_features, size, mean, std,
                    batch_size=256, autocast=None):
    """Image<->text recall@1/5/10 and mean recall on held-out images and their captions.

    Args:
        model: the model (`encode_image`, `project_text`); put into eval mode meanwhile.
        images_uint8: (N, H, W, 3) uint8 tensor on the model's device.
        caption_rows: for each image, the rows of `text_features` of its captions.
        text_features: (U, D) frozen text features on the model's device.
    """
    import contextlib

    autocast = autocast or contextlib.nullcontext
    was_training = model.training
    model.eval()
    try:
        images = embed_images(model, images_uint8, size, mean, std, batch_size, autocast)
        rows = torch.as_tensor(np.concatenate(caption_rows), device=text_features.device)
        text_image = np.repeat(np.arange(len(caption_rows)), [len(r) for r in caption_rows])
        with autocast():
            texts = F.normalize(model.project_text(text_features[rows].float()).float(), dim=-1)
    finally:
        model.train(was_training)
    return retrieval_recalls(images.cpu().numpy(), texts.cpu().numpy(), text_image)
