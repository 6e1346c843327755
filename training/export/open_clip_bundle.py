"""Any open_clip model as bundle encoders: loading a state dict, wrappers, MaskCLIP dense paths.

Dense features exist for open_clip's own ViTs (class-token pooling, no attention pooler) and
ModifiedResNets; for other image towers the bundle has no dense output.
"""

import logging
import pickle
from pathlib import Path

import torch
from torch import nn
from torch.nn.functional import linear, normalize

from terralens.plugin.core.bundle import BUILTIN_PREFIX, Bundle, ImageSpec, TextSpec

from .bundle_writer import finish_bundle, provenance, staged_folder
from .onnx_export import batch_axes, export_onnx, reduce_precision

CLIP_VOCAB = BUILTIN_PREFIX + "bpe_simple_vocab_16e6.txt.gz"


def load_open_clip(model_name, checkpoint, config_dir=None):
    """An open_clip model built from its config and a local checkpoint (nothing is fetched).

    Accepts what RemoteCLIP, GeoRSCLIP and SkyCLIP publish: a plain `model.state_dict()`, or
    open_clip's training checkpoint `{"epoch", "name", "state_dict": {"module.<key>": ...}}`
    (also `.safetensors` and OpenAI's TorchScript files, through open_clip's own loader).

    Raises:
        ValueError: the model name is unknown, its text tower is not CLIP's own transformer,
            or the checkpoint does not fit the named architecture.
    """
    import open_clip
    if not Path(checkpoint).is_file():
        raise FileNotFoundError(f"open_clip checkpoint {checkpoint} not found")
    if config_dir:
        open_clip.add_model_config(config_dir)
    config = open_clip.get_model_config(model_name)
    if config is None:
        raise ValueError(f"open_clip has no model config {model_name!r}; pick one of "
                         "open_clip.list_models() or pass --open-clip-config DIR")
    if config["text_cfg"].get("hf_model_name") or config["text_cfg"].get("hf_tokenizer_name"):
        raise ValueError(f"{model_name} uses a Hugging Face text tower and tokenizer; TerraLens "
                         "exports open_clip models with CLIP's BPE tokenizer only")
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # "no pretrained weights loaded": they are loaded just below
    try:
        model = open_clip.create_model(model_name, pretrained=None)
    finally:
        root.setLevel(level)
    try:
        # Unwraps "state_dict", drops DistributedDataParallel's "module." prefix, converts old
        # text-tower layouts, then loads strictly.
        open_clip.load_checkpoint(model, str(checkpoint), strict=True, weights_only=True)
    except pickle.UnpicklingError as err:
        raise ValueError(f"{checkpoint} holds Python objects besides tensors and is not loaded "
                         "(unsafe); save only `model.state_dict()` with torch.save: "
                         f"{str(err).splitlines()[0]}") from None
    except (RuntimeError, KeyError, AssertionError) as err:  # open_clip asserts on widths
        detail = mismatch_summary(model, checkpoint) or str(err).splitlines()[0]
        raise ValueError(f"{checkpoint} does not fit open_clip's {model_name}: {detail}. Pass "
                         "as --open-clip-model the architecture it was trained as") from None
    return model.eval()


def mismatch_summary(model, checkpoint):
    """Keys and shapes where `checkpoint` differs from `model`, in a few words ("" if unread)."""
    from open_clip.factory import load_state_dict
    try:
        state = load_state_dict(str(checkpoint), weights_only=True)
    except Exception:  # unreadable: the caller falls back on the loader's own message
        return ""
    expected = model.state_dict()
    parts = []
    for what, items in (
            ("missing", [key for key in expected if key not in state]),
            ("unexpected", [key for key in state if key not in expected]),
            ("of another shape", [f"{key} {tuple(state[key].shape)}, not {tuple(value.shape)}"
                                  for key, value in expected.items() if key in state
                                  and tuple(state[key].shape) != tuple(value.shape)])):
        if items:
            parts.append(f"{len(items)} tensors {what} (e.g. {items[0]})")
    return "; ".join(parts) + image_tower_hint(state)


def image_tower_hint(state):
    """What the checkpoint's image tower looks like, to help pick the architecture name."""
    conv = state.get("visual.conv1.weight")
    if "visual.attnpool.c_proj.weight" in state:
        return "; the checkpoint has a ResNet image tower (RN50, RN101, ...)"
    if conv is not None and "visual.class_embedding" in state:
        return (f"; the checkpoint has a ViT image tower of width {conv.shape[0]} and patch "
                f"{conv.shape[-1]} (ViT-B-32: 768 and 32, ViT-B-16: 768 and 16, ViT-L-14: "
                "1024 and 14)")
    return ""


def dense_kind(visual):
    """"vit", "resnet" or "" (no dense path known for this image tower)."""
    from open_clip.modified_resnet import ModifiedResNet
    from open_clip.transformer import ResidualAttentionBlock, VisionTransformer
    if isinstance(visual, ModifiedResNet):
        return "resnet"
    if not isinstance(visual, VisionTransformer):
        return ""
    last = visual.transformer.resblocks[-1]
    plain = (visual.attn_pool is None and visual.pool_type == "tok" and visual.proj is not None
             and not visual.final_ln_after_pool and isinstance(last, ResidualAttentionBlock)
             and isinstance(last.attn, nn.MultiheadAttention)
             and last.attn._qkv_same_embed_dim and not hasattr(last, "ln_1_kv"))
    return "vit" if plain else ""


def dense_geometry(visual):
    """(grid, stride) of the dense map, or (0, 0) without one."""
    kind = dense_kind(visual)
    size = _image_size(visual)
    if kind == "vit":
        return size // visual.patch_size[0], visual.patch_size[0]
    if kind == "resnet":
        return size // 32, 32
    return 0, 0


def _image_size(visual):
    size = visual.image_size
    return int(size[0] if isinstance(size, (tuple, list)) else size)


def _maskclip_values(block, x):
    """MaskCLIP's last block: value and output projections without q/k, residual and MLP kept."""
    width = block.attn.embed_dim
    values = linear(block.ln_1(x), block.attn.in_proj_weight[2 * width:],
                      block.attn.in_proj_bias[2 * width:])
    x = x + block.ls_1(block.attn.out_proj(values))
    return x + block.ls_2(block.mlp(block.ln_2(x)))


def vit_dense(visual, images):
    """(pooled (B, D), dense (B, D, g, g)) of an open_clip VisionTransformer."""
    x = visual._embeds(images)
    batch_first = getattr(visual.transformer, "batch_first", True)
    x = x if batch_first else x.transpose(0, 1)
    for block in visual.transformer.resblocks[:-1]:
        x = block(x)
    full, values = visual.transformer.resblocks[-1](x), _maskclip_values(
        visual.transformer.resblocks[-1], x)
    if not batch_first:
        full, values = full.transpose(0, 1), values.transpose(0, 1)
    pooled = visual._pool(full)[0] @ visual.proj
    dense = visual.ln_post(values[:, 1:]) @ visual.proj
    grid = images.shape[-1] // visual.patch_size[0]
    return pooled, dense.transpose(1, 2).reshape(dense.shape[0], -1, grid, grid)


def resnet_dense(visual, images):
    """(pooled, dense) of an open_clip ModifiedResNet: its attention pool's value path."""
    x = visual.stem(images)
    for layer in (visual.layer1, visual.layer2, visual.layer3, visual.layer4):
        x = layer(x)
    pool = visual.attnpool
    pooled = pool(x)
    tokens = x.flatten(2).transpose(1, 2) + pool.positional_embedding[1:].to(x.dtype)
    dense = pool.c_proj(pool.v_proj(tokens))
    return pooled, dense.transpose(1, 2).reshape(x.shape[0], -1, x.shape[2], x.shape[3])


class OpenClipImage(nn.Module):
    """pixel_values -> (image_embeds[, dense_features]) of an open_clip model."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.kind = dense_kind(model.visual)

    def forward(self, pixel_values):
        if self.kind == "vit":
            return vit_dense(self.model.visual, pixel_values)
        if self.kind == "resnet":
            return resnet_dense(self.model.visual, pixel_values)
        return (self.model.encode_image(pixel_values),)


class OpenClipText(nn.Module):
    """input_ids (CLIP BPE, zero padded) -> text_embeds; CLIP needs no attention mask."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids):
        return self.model.encode_text(input_ids)


def image_io(model):
    """(output names, dynamic axes) of the image wrapper."""
    names = ["image_embeds"] + (["dense_features"] if dense_kind(model.visual) else [])
    return names, batch_axes(["pixel_values"] + names)


def preprocess(model):
    """(image size, mean, std) the model was trained with."""
    from open_clip.model import get_model_preprocess_cfg
    config = get_model_preprocess_cfg(model)
    return _image_size(model.visual), list(config["mean"]), list(config["std"])


def export_open_clip(args):
    """Export an open_clip model (CLIP BPE tokenizer, no attention mask); returns the folder."""
    import open_clip
    model = load_open_clip(args.open_clip_model, args.open_clip_checkpoint, args.open_clip_config)
    size, mean, std = preprocess(model)
    grid, stride = dense_geometry(model.visual)
    if not grid:
        print(f"{args.open_clip_model}: no dense path known for this image tower; the bundle "
              "has no dense output (prompt masks will be unavailable)")
    tokenizer = open_clip.get_tokenizer(args.open_clip_model)
    ids = tokenizer(["a remote sensing image of a forest.", "a port"])
    with torch.no_grad():
        dim = int(model.encode_text(ids).shape[-1])
    bundle_id = args.id or Path(args.out).resolve().name
    with staged_folder(args.out) as stage:
        names, axes = image_io(model)
        export_onnx(OpenClipImage(model), (torch.zeros(2, 3, size, size),), ["pixel_values"],
                    names, axes, stage / "image.onnx")
        export_onnx(OpenClipText(model), (ids,), ["input_ids"], ["text_embeds"],
                    batch_axes(["input_ids", "text_embeds"]), stage / "text.onnx")
        reduce_precision(stage / "image.onnx", getattr(args, "image_precision", "fp32"))
        reduce_precision(stage / "text.onnx", args.text_precision)
        image = ImageSpec(size=size, mean=mean, std=std, dense_grid=grid, dense_stride=stride,
                          dense_output="dense_features" if grid else "")
        text = TextSpec(tokenizer="clip_bpe", vocab_file=CLIP_VOCAB, lower_case=True,
                        context_length=int(ids.shape[1]), attention_mask_name="")
        source = f"open_clip {args.open_clip_model} {Path(args.open_clip_checkpoint).name}"
        bundle = Bundle(id=bundle_id, name=args.name or bundle_id, embedding_dim=dim,
                        logit_scale=float(model.logit_scale.detach().exp()), image=image,
                        text=text, tile_size=size, gsd_m=float(args.gsd_m),
                        provenance=provenance(args, {}, source))
        finish_bundle(bundle, stage, args, references(model, tokenizer, mean, std))
    return Path(args.out)


def references(model, tokenizer, mean, std):
    """Torch reference functions (unit-length numpy outputs) for the parity check."""
    wrapper = OpenClipImage(model).eval()
    mean = torch.tensor(mean).reshape(1, 3, 1, 1)
    std = torch.tensor(std).reshape(1, 3, 1, 1)

    @torch.no_grad()
    def image(pixels):
        outputs = wrapper((torch.from_numpy(pixels) - mean) / std)
        dense = normalize(outputs[1], dim=1).numpy() if len(outputs) > 1 else None
        return normalize(outputs[0], dim=-1).numpy(), dense

    @torch.no_grad()
    def text(captions):
        return normalize(model.encode_text(tokenizer(captions)), dim=-1).numpy()
    return image, text
