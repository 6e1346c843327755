"""A light dense head on the frozen TerraLens trunk: stride-16 prompt features for masks.

The head refines the attention pool's value-path features (stride 32, a 4x4 grid at 128 px)
with the trunk's stride-16 features. Its output is the upsampled value-path map plus a learnt
residual whose last convolution starts at zero, so an untrained head reproduces the baseline
(bilinearly upsampled) and training only moves it where the pseudo-labels ask.
"""

import json
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional

FINE_BLOCK = 4  # tf_efficientnet_lite0's blocks[4] ends at stride 16 (112 channels)
HEAD_FORMAT = "terralens-dense-head"


class DenseHead(nn.Module):
    """(stride-16 trunk features, stride-32 dense features) -> dense features at stride 16."""

    def __init__(self, fine_channels=112, embed_dim=384, hidden=128):
        super().__init__()
        self.config = {"fine_channels": fine_channels, "embed_dim": embed_dim, "hidden": hidden}
        self.fine = nn.Sequential(nn.Conv2d(fine_channels, hidden, 1), nn.ReLU())
        self.coarse = nn.Sequential(nn.Conv2d(embed_dim, hidden, 1), nn.ReLU())
        self.mix = nn.Sequential(nn.Conv2d(2 * hidden, hidden, 3, padding=1), nn.ReLU())
        self.out = nn.Conv2d(hidden, embed_dim, 1)
        # Zero-initialised residual: the untrained head gives the upsampled baseline exactly.
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, fine, coarse_dense):
        """fine (B, C, 2h, 2w), coarse_dense (B, D, h, w) -> (B, D, 2h, 2w)."""
        base = upsample_to(coarse_dense, fine.shape[-2:])
        mixed = torch.cat([self.fine(fine), self.coarse(base)], dim=1)
        return base + self.out(self.mix(mixed))


def upsample_to(dense, size):
    """Bilinear resize of a (B, D, h, w) map to `size` (the baseline the head starts from)."""
    return functional.interpolate(dense, size=tuple(int(s) for s in size), mode="bilinear",
                                  align_corners=False)


def trunk_features(model, images):
    """(stride-16 features (B, 112, 2h, 2w), final trunk features (B, 1280, h, w))."""
    trunk = model.visual.trunk
    x = trunk.bn1(trunk.conv_stem(images))
    fine = None
    for index, block in enumerate(trunk.blocks):
        x = block(x)
        if index == FINE_BLOCK:
            fine = x
    return fine, trunk.bn2(trunk.conv_head(x))


def coarse_outputs(model, images):
    """(pooled embeddings, stride-16 trunk features, stride-32 value-path dense features)."""
    fine, final = trunk_features(model, images)
    pooled, dense = model.visual.head.pool.forward_dense(final)
    return pooled, fine, dense


class TerraLensDenseHead(nn.Module):
    """pixel_values -> (image_embeds, dense_features): the model's pooled output, the head's map."""

    def __init__(self, model, head):
        super().__init__()
        self.model = model
        self.head = head

    def forward(self, pixel_values):
        pooled, fine, dense = coarse_outputs(self.model, pixel_values)
        return pooled, self.head(fine, dense)


def head_grid(model):
    """(dense_grid, dense_stride) of the head's output for the model's input size."""
    return 2 * model.dense_grid, model.dense_stride // 2


def save_head(head, path, info=None):
    """The head's weights (.safetensors) and a .json beside them (config, training record)."""
    from safetensors.torch import save_file
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in head.state_dict().items()}
    save_file(state, str(path))
    record = {"format": HEAD_FORMAT, "config": head.config, **(info or {})}
    path.with_suffix(".json").write_text(json.dumps(record, indent=1), encoding="utf-8")
    return path


def load_head(path):
    """(DenseHead in eval mode, its .json record) from `save_head`'s files.

    Raises:
        FileNotFoundError: the weights or their .json are missing.
        ValueError: the .json is not a TerraLens dense-head record.
    """
    from safetensors.torch import load_file
    path = Path(path)
    info_path = path.with_suffix(".json")
    if not path.is_file() or not info_path.is_file():
        raise FileNotFoundError(f"dense head {path} (and its {info_path.name}) not found; train "
                                "one with `python -m training dense-head`")
    record = json.loads(info_path.read_text(encoding="utf-8"))
    if record.get("format") != HEAD_FORMAT:
        raise ValueError(f"{info_path} is not a dense-head record (format "
                         f"{record.get('format')!r}, expected {HEAD_FORMAT!r})")
    head = DenseHead(**record["config"])
    head.load_state_dict(load_file(str(path)), strict=True)
    return head.eval(), record


def attach_head(model, head_path, text_reference):
    """Export parts for a bundle whose dense output is the head's (see training/export/export.py).

    Returns:
        (image module for ONNX export, (image reference, text reference) for the parity check,
        (dense_grid, dense_stride), provenance record of the head).
    """
    from torch.nn.functional import normalize

    from ..model.model import IMAGE_MEAN, IMAGE_STD
    head, record = load_head(head_path)
    module = TerraLensDenseHead(model, head).eval()
    mean = torch.tensor(IMAGE_MEAN).reshape(1, 3, 1, 1)
    std = torch.tensor(IMAGE_STD).reshape(1, 3, 1, 1)

    @torch.no_grad()
    def image(pixels):
        embeds, dense = module((torch.from_numpy(pixels) - mean) / std)
        return normalize(embeds, dim=-1).numpy(), normalize(dense, dim=1).numpy()

    info = {"file": str(head_path), "config": record.get("config"),
            "rounds": len(record.get("rounds", []))}
    return module, (image, text_reference), head_grid(model), info
