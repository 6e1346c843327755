"""One training step's pieces: the model with its training heads, a device batch, the losses."""

import torch
import torch.nn.functional as F  # noqa: N812 (the PyTorch convention)
from torch import nn

from ..data.augment import augment, normalize
from ..objectives.losses import (
    LocationEncoder,
    MimDecoder,
    location_loss,
    mim_loss,
    random_patch_mask,
)


def active_objectives(recipe, data):
    """{objective: weight} of the objectives this recipe turns on for this pack."""
    goals = recipe["objectives"]
    active = {}
    if goals["contrastive"]["weight"] > 0 and len(data.caption_rows):
        active["contrastive"] = float(goals["contrastive"]["weight"])
    if goals["mim"]["weight"] > 0:
        active["mim"] = float(goals["mim"]["weight"])
    has_coords = data.lonlat is not None and bool(torch.isfinite(data.lonlat).all(1).any())
    wanted = goals["location"]["enabled"]
    if wanted is True and not has_coords:
        raise ValueError("objectives.location.enabled is true but the pack has no lon/lat; "
                         "pack GeoTIFF tiles (--source geotiff) or set it to \"auto\"")
    if (wanted is True or wanted == "auto") and has_coords and goals["location"]["weight"] > 0:
        active["location"] = float(goals["location"]["weight"])
    if not active:
        raise ValueError("no objective is active: the pack has no captions and no coordinates, "
                         "or every objective weight is 0")
    return active


class TrainModule(nn.Module):
    """The model plus its training-only heads; `forward` runs everything that needs gradients."""

    def __init__(self, model, mim_decoder=None, location_encoder=None):
        super().__init__()
        self.model, self.mim_decoder, self.location_encoder = model, mim_decoder, location_encoder

    def forward(self, images, text_features=None, masked_images=None, lonlat=None):
        out = {"image": self.model.encode_image(images),
               "logit_scale": self.model.logit_scale.exp().clamp(max=100)}
        if text_features is not None:
            out["text"] = self.model.project_text(text_features)
        if self.mim_decoder is not None and masked_images is not None:
            out["mim"] = self.mim_decoder(self.model.image_trunk_features(masked_images))
        if self.location_encoder is not None and lonlat is not None:
            out["location"] = self.location_encoder(torch.nan_to_num(lonlat))
            out["location_logit_scale"] = self.location_encoder.logit_scale
        return out


def _probe(model, size, device):
    """Embedding size and trunk grid (channels, side) of the model at input `size`."""
    model.eval()  # probe without touching BatchNorm statistics
    with torch.no_grad():
        zeros = torch.zeros(1, 3, size, size, device=device)
        dim = model.encode_image(zeros).shape[-1]
        trunk = model.image_trunk_features(zeros)
    model.train()
    return dim, trunk.shape[1], trunk.shape[-1]


def build_module(recipe, objectives, device):
    """The model (`model.model.create_model`) wrapped with the heads the objectives need."""
    from ..model.model import create_model

    size = recipe["model"]["image_size"]
    # Training reads caption features from the pack and never runs MiniLM: skip its weights.
    model = create_model(size, recipe["model"]["pretrained"], str(device), text_weights=False)
    if recipe["model"]["init_checkpoint"]:  # e.g. ImageNet weights carried to a GPU machine
        from ..model.checkpoint import load_checkpoint
        load_checkpoint(model, recipe["model"]["init_checkpoint"])
    if recipe["model"]["lock_text_projection"]:
        # Keep MiniLM's own space (the projection stays the identity it starts as): words the
        # captions never use keep their place relative to the words they do (RESEARCH.md).
        model.text.proj.requires_grad_(False)
    dim, channels, side = _probe(model, size, device)
    decoder = locator = None
    if "mim" in objectives:
        decoder = MimDecoder(channels, size // side, recipe["objectives"]["mim"]["decoder_hidden"])
    if "location" in objectives:
        loc = recipe["objectives"]["location"]
        locator = LocationEncoder(dim, loc["frequencies"], loc["sigmas"], loc["hidden"],
                                  recipe["seed"])
    module = TrainModule(model, decoder, locator).to(device)
    module.train()
    return model, module


def reword_class_captions(caption_ids, wordings):
    """Where an image drew its class caption (wording 0), draw one of its wordings instead.

    Args:
        caption_ids: (B,) drawn caption rows.
        wordings: (B, T) each image's class caption rows in every wording, -1 without a class.
    """
    is_class = (caption_ids == wordings[:, 0]) & (wordings[:, 0] >= 0)
    choice = torch.randint(wordings.shape[1], (len(caption_ids),), device=caption_ids.device)
    reworded = wordings.gather(1, choice[:, None])[:, 0]
    return torch.where(is_class, reworded, caption_ids)


def make_batch(data, idx, recipe, objectives, mean, std):
    """Augment the images `idx` on the device and draw one caption of each."""
    size, idx = recipe["model"]["image_size"], torch.as_tensor(idx, device=data.images.device)
    images = normalize(augment(data.images[idx], size, recipe["augment"]), mean, std)
    batch = {"images": images}
    if "contrastive" in objectives:
        start, count = data.caption_offsets[idx], data.caption_offsets[idx + 1] - \
            data.caption_offsets[idx]
        pick = (torch.rand(len(idx), device=idx.device) * count).long().clamp(max=count - 1)
        batch["caption_ids"] = data.caption_rows[start + pick]
        if data.class_wordings is not None:
            batch["caption_ids"] = reword_class_captions(batch["caption_ids"],
                                                         data.class_wordings[idx])
        batch["text_features"] = data.text_features[batch["caption_ids"]]
    if "mim" in objectives:
        mim = recipe["objectives"]["mim"]
        count = max(1, round(mim["batch_fraction"] * len(idx)))
        mask = random_patch_mask(count, size, mim["mask_patch"], mim["mask_ratio"], idx.device)
        batch["mim_target"], batch["mim_mask"] = images[:count], mask
        batch["masked_images"] = images[:count] * (1 - mask)
    if "location" in objectives:
        batch["lonlat"] = data.lonlat[idx]
    return batch


def compute_losses(out, batch, objectives, recipe, clip_loss):
    """{objective: loss} for the active objectives and their weighted sum under `total`."""
    goals, losses = recipe["objectives"], {}
    if "contrastive" in objectives:
        ids = batch["caption_ids"] if goals["contrastive"]["identical_captions_positive"] else None
        losses["contrastive"] = clip_loss(F.normalize(out["image"].float(), dim=-1),
                                          F.normalize(out["text"].float(), dim=-1),
                                          out["logit_scale"].float(), caption_ids=ids)
    if "mim" in objectives:
        losses["mim"] = mim_loss(out["mim"], batch["mim_target"], batch["mim_mask"],
                                 goals["mim"]["mask_patch"], goals["mim"]["normalize_target"])
    if "location" in objectives:
        valid = torch.isfinite(batch["lonlat"]).all(dim=1)
        losses["location"] = location_loss(out["image"], out["location"],
                                           out["location_logit_scale"], valid)
    losses["total"] = sum(objectives[name] * losses[name] for name in objectives)
    return losses
