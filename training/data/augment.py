"""Image augmentation on the training device, as batched tensor maths (no per-image Python)."""

import math

import torch
import torch.nn.functional as F  # noqa: N812 (the PyTorch convention)


def to_unit_float(images_uint8, size):
    """(B, H, W, 3) uint8 -> (B, 3, size, size) float in [0, 1], resized with antialiasing."""
    images = images_uint8.permute(0, 3, 1, 2).float().div_(255.0)
    if images.shape[-1] != size or images.shape[-2] != size:
        images = F.interpolate(images, size=(size, size), mode="bilinear", antialias=True,
                               align_corners=False)
    return images


def normalize(images, mean, std):
    """Subtract the model's per-channel mean and divide by its std."""
    mean = torch.as_tensor(mean, device=images.device, dtype=images.dtype).view(1, -1, 1, 1)
    std = torch.as_tensor(std, device=images.device, dtype=images.dtype).view(1, -1, 1, 1)
    return (images - mean) / std


def _crop_boxes(batch, scale, ratio, device):
    """Half-widths/heights and centres (normalised coordinates) of random resized crops."""
    area = torch.empty(batch, device=device).uniform_(*scale)
    log_ratio = torch.empty(batch, device=device).uniform_(math.log(ratio[0]), math.log(ratio[1]))
    aspect = log_ratio.exp()
    width = (area * aspect).sqrt().clamp(max=1.0)
    height = (area / aspect).sqrt().clamp(max=1.0)
    centre_x = (torch.rand(batch, device=device) * 2 - 1) * (1 - width)
    centre_y = (torch.rand(batch, device=device) * 2 - 1) * (1 - height)
    return width, height, centre_x, centre_y


def random_affine(batch, cfg, device):
    """(B, 2, 3) sampling matrices: random resized crop, flips and 90-degree turns in one map."""
    if cfg.get("crop_scale"):
        width, height, cx, cy = _crop_boxes(batch, cfg["crop_scale"],
                                            cfg.get("crop_ratio", [0.75, 4 / 3]), device)
    else:
        width = height = torch.ones(batch, device=device)
        cx = cy = torch.zeros(batch, device=device)
    flip_x = torch.ones(batch, device=device)
    flip_y = torch.ones(batch, device=device)
    if cfg.get("hflip"):
        flip_x = torch.where(torch.rand(batch, device=device) < 0.5, -1.0, 1.0)
    if cfg.get("vflip"):
        flip_y = torch.where(torch.rand(batch, device=device) < 0.5, -1.0, 1.0)
    turns = (torch.randint(0, 4, (batch,), device=device) if cfg.get("rot90")
             else torch.zeros(batch, dtype=torch.long, device=device))
    cos = torch.tensor([1.0, 0.0, -1.0, 0.0], device=device)[turns]
    sin = torch.tensor([0.0, 1.0, 0.0, -1.0], device=device)[turns]
    theta = torch.zeros(batch, 2, 3, device=device)
    theta[:, 0, 0], theta[:, 0, 1] = width * cos * flip_x, -width * sin * flip_y
    theta[:, 1, 0], theta[:, 1, 1] = height * sin * flip_x, height * cos * flip_y
    theta[:, 0, 2], theta[:, 1, 2] = cx, cy
    return theta


def color_jitter(images, brightness, contrast):
    """Per-image random contrast (around the image mean) then brightness, clamped to [0, 1]."""
    batch = images.shape[0]
    if contrast:
        factor = torch.empty(batch, 1, 1, 1, device=images.device).uniform_(1 - contrast,
                                                                            1 + contrast)
        mean = images.mean(dim=(1, 2, 3), keepdim=True)
        images = (images - mean) * factor + mean
    if brightness:
        images = images * torch.empty(batch, 1, 1, 1, device=images.device).uniform_(
            1 - brightness, 1 + brightness)
    return images.clamp(0.0, 1.0)


# Rec. 601 luma: how a single grey band compares with R, G and B (also what `pan` pairs use).
LUMA = (0.299, 0.587, 0.114)


def random_grayscale(images, probability):
    """Replace a random share of the images by their luma repeated to three channels.

    The plugin reads a one-band raster (panchromatic, old black-and-white photos) as that band
    repeated to R, G and B; a model that never saw grey scenes loses much of its accuracy on them.
    """
    if not probability:
        return images
    weights = torch.tensor(LUMA, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
    grey = (images * weights).sum(dim=1, keepdim=True).expand_as(images)
    chosen = torch.rand(images.shape[0], 1, 1, 1, device=images.device) < probability
    return torch.where(chosen, grey, images)


def augment(images_uint8, size, cfg):
    """Augment a (B, H, W, 3) uint8 batch into (B, 3, size, size) floats in [0, 1].

    Args:
        images_uint8: the batch, on the training device.
        size: output side in pixels.
        cfg: the recipe's `augment` section (`enabled`, `crop_scale`, `crop_ratio`, `hflip`,
            `vflip`, `rot90`, `brightness`, `contrast`, `grayscale`: the probability of
            turning an image grey).
    """
    if not cfg.get("enabled", True):
        return to_unit_float(images_uint8, size)
    # Shrink with antialiasing first when the stored images are much larger than the output,
    # because grid_sample's bilinear lookup would alias.
    source_size = size if images_uint8.shape[1] > 1.5 * size else images_uint8.shape[1]
    images = to_unit_float(images_uint8, source_size)
    theta = random_affine(images.shape[0], cfg, images.device)
    grid = F.affine_grid(theta, (images.shape[0], 3, size, size), align_corners=False)
    images = F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection",
                           align_corners=False)
    images = color_jitter(images, cfg.get("brightness", 0.0), cfg.get("contrast", 0.0))
    return random_grayscale(images, cfg.get("grayscale", 0.0))
