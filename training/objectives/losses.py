"""Training objectives: contrastive (repeated captions as positives), masked images, location."""

import math

import torch
import torch.nn.functional as F  # noqa: N812 (the PyTorch convention)
from open_clip.loss import ClipLoss
from torch import nn


class MultiPositiveClipLoss(ClipLoss):
    """open_clip's symmetric InfoNCE, where samples whose captions are identical are positives.

    RSICD repeats captions ("many buildings and green trees are in a dense residential area."),
    so two images in a batch may be given the same text; plain InfoNCE would push one of them
    away from a caption that describes it. With `caption_ids`, the target of each row spreads
    evenly over every column carrying the same caption id. Works under DDP like `ClipLoss`
    (features and ids gathered from every rank).

    With a frozen text tower (the default model), the same caption always has the same feature,
    and then this loss equals plain InfoNCE exactly: the target's halves fall on two equal
    columns (and two equal rows), so the sum of log-probabilities is unchanged. It differs only
    when the same caption can get different features (a trained text tower with dropout).
    """

    def forward(self, image_features, text_features, logit_scale, caption_ids=None,
                output_dict=False):
        if caption_ids is None:
            return super().forward(image_features, text_features, logit_scale,
                                   output_dict=output_dict)
        logits_per_image, logits_per_text = self.get_logits(image_features, text_features,
                                                            logit_scale)
        all_ids = self._gather_ids(caption_ids)
        row_ids = caption_ids if (self.world_size > 1 and self.local_loss) else all_ids
        targets = (row_ids[:, None] == all_ids[None, :]).float()
        targets = targets / targets.sum(dim=1, keepdim=True)
        loss = (F.cross_entropy(logits_per_image.float(), targets)
                + F.cross_entropy(logits_per_text.float(), targets)) / 2
        return {"contrastive_loss": loss} if output_dict else loss

    def _gather_ids(self, caption_ids):
        """Caption ids of the whole global batch, in rank order (as `gather_features` orders)."""
        if self.world_size <= 1:
            return caption_ids
        parts = [torch.empty_like(caption_ids) for _ in range(self.world_size)]
        torch.distributed.all_gather(parts, caption_ids)
        return torch.cat(parts)


class MimDecoder(nn.Module):
    """A light decoder from trunk features (B, C, h, w) to pixels (B, 3, h * stride, w * stride).

    A 1x1 bottleneck then a 1x1 projection to `stride`^2 pixels per cell and a pixel shuffle,
    as SimMIM decodes a CNN's last stage; it is thrown away after training.
    """

    def __init__(self, channels, stride, hidden=192):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(channels, hidden, 1), nn.GELU(),
                                 nn.Conv2d(hidden, 3 * stride * stride, 1),
                                 nn.PixelShuffle(stride))

    def forward(self, features):
        return self.net(features)


def random_patch_mask(batch, size, patch, ratio, device):
    """A (B, 1, size, size) float mask, 1 on `ratio` of the `patch` x `patch` cells (at random)."""
    if size % patch:
        raise ValueError(f"image size {size} is not a multiple of the mask patch {patch}; "
                         "change objectives.mim.mask_patch")
    cells = (size // patch) ** 2
    masked = max(1, round(ratio * cells))
    order = torch.rand(batch, cells, device=device).argsort(dim=1)
    mask = (order < masked).float().view(batch, 1, size // patch, size // patch)
    return F.interpolate(mask, scale_factor=patch, mode="nearest")


def mim_loss(prediction, target, mask, patch, normalize_target=True):
    """Mean L1 error on the masked pixels; targets optionally normalised per patch (MAE)."""
    if normalize_target:
        mean = F.avg_pool2d(target, patch)
        var = F.avg_pool2d(target * target, patch) - mean * mean
        mean = F.interpolate(mean, scale_factor=patch, mode="nearest")
        std = F.interpolate(var.clamp_min(0).add(1e-6).sqrt(), scale_factor=patch, mode="nearest")
        target = (target - mean) / std
    error = (prediction.float() - target).abs() * mask
    return error.sum() / (mask.sum() * prediction.shape[1]).clamp_min(1.0)


class LocationEncoder(nn.Module):
    """SatCLIP-style location encoder: lon/lat -> multi-scale random Fourier features -> MLP.

    The point goes onto the unit sphere first (no seam at the date line, no pole singularity),
    then through fixed Gaussian random frequencies at several scales (coarse to fine), so the
    MLP sees continents and neighbourhoods alike.
    """

    def __init__(self, dim=384, frequencies=32, sigmas=(1.0, 8.0, 32.0), hidden=512, seed=0):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        bank = torch.cat([torch.randn(frequencies, 3, generator=generator) * s for s in sigmas])
        self.register_buffer("frequencies", bank)
        self.mlp = nn.Sequential(nn.Linear(2 * len(bank), hidden), nn.GELU(),
                                 nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def forward(self, lonlat):
        # degrees to radians by hand: ONNX has no deg2rad, and the encoder ships as ONNX
        radians = lonlat.float() * (math.pi / 180.0)
        lon, lat = radians[:, 0], radians[:, 1]
        xyz = torch.stack([lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()], dim=1)
        phase = 2 * math.pi * xyz @ self.frequencies.T
        return self.mlp(torch.cat([phase.sin(), phase.cos()], dim=1))


def location_loss(image_embeddings, location_embeddings, logit_scale, valid):
    """Symmetric InfoNCE between images and their locations, over the samples marked `valid`.

    Returns a zero that still touches every input when fewer than two samples are valid, so the
    graph (and DDP's gradient bookkeeping) is the same on every step.
    """
    if int(valid.sum()) < 2:
        return 0.0 * (image_embeddings.sum() + location_embeddings.sum() + logit_scale)
    images = F.normalize(image_embeddings[valid].float(), dim=-1)
    places = F.normalize(location_embeddings[valid].float(), dim=-1)
    logits = logit_scale.exp().clamp(max=100) * images @ places.T
    labels = torch.arange(len(images), device=images.device)
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
