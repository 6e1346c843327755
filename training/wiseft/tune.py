"""WiSE-FT fine-tuning: the model adapters (TerraLens or open_clip), caption data, the loop."""

import json
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 (the PyTorch convention)
from torch import nn

from terralens.plugin.core.atomic import atomic_path, atomic_write_text

from ..data.augment import augment, normalize
from ..data.data import CaptionDataset, load_rgb
from ..objectives.losses import MultiPositiveClipLoss
from ..train.runtime import build_optimizer

TEXT_BATCH = 256
OPEN_CLIP_TEMPERATURES = ("logit_scale", "logit_bias")


class WiseFtError(ValueError):
    """A bad option or input; the message says what to change."""


def tuned_state(model):
    """Trainable parameters, the temperature and every saved buffer (BatchNorm statistics)."""
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    trainable.update(OPEN_CLIP_TEMPERATURES)
    buffers = {n for n, _ in model.named_buffers()}
    return {key: value.detach().cpu().clone() for key, value in model.state_dict().items()
            if key in trainable or key in buffers}


class TerraLensSubject:
    """The default model: image tower, text projection and temperature train; MiniLM is frozen.

    The frozen MiniLM features of a text are computed once and kept (every mix of weights
    shares them); only the projection differs between mixes.
    """

    kind = "terralens"
    backbone_prefixes = ("visual.trunk.",)

    def __init__(self, model, image_size, source, info=None):
        from ..model.model import IMAGE_MEAN, IMAGE_STD
        self.model, self.image_size, self.source = model, int(image_size), str(source)
        self.mean, self.std, self.info = IMAGE_MEAN, IMAGE_STD, info or {}
        self._features = {}

    def state(self):
        from ..model.model import trainable_state_dict
        return trainable_state_dict(self.model)

    def load_state(self, state):
        from ..model.model import load_trainable
        load_trainable(self.model, state)

    @torch.no_grad()
    def text_inputs(self, texts):
        """(N, 384) frozen MiniLM features of the texts (the projection's input)."""
        from ..model.model import tokenize
        todo = sorted({t for t in texts if t not in self._features})
        for start in range(0, len(todo), TEXT_BATCH):
            chunk = todo[start:start + TEXT_BATCH]
            features = self.model.text_features(*tokenize(chunk))
            self._features.update(zip(chunk, features))
        return torch.stack([self._features[t] for t in texts])

    def encode_text_inputs(self, inputs):
        return self.model.project_text(inputs)

    def encode_images(self, pixels):
        return self.model.encode_image(pixels)

    def save(self, path, info):
        """fp16 `training.model.checkpoint` safetensors + JSON, as `export --checkpoint` reads."""
        from ..model.checkpoint import save_checkpoint
        path = Path(path).with_suffix(".safetensors")
        recipe = self.info.get("recipe") or {"model": {"image_size": self.image_size}}
        save_checkpoint(self.model, path, {"recipe": recipe, "image_size": self.image_size,
                                           **info})
        return path

    def load_saved(self, path):
        """Load a file written by `save` (the fine-tuned weights of an earlier run)."""
        from ..model.checkpoint import load_checkpoint
        load_checkpoint(self.model, Path(path))

    def export_args(self, path):
        return ["--checkpoint", str(path), "--image-precision", "fp16"]


class OpenClipSubject:
    """Any open_clip model (CLIP BPE text tower): everything trains, or the image side only."""

    kind = "open_clip"
    backbone_prefixes = ("visual.", "text.", "transformer.", "token_embedding",
                         "positional_embedding", "ln_final", "text_projection")

    def __init__(self, model, name, source, freeze_text=False):
        import open_clip

        from ..export.open_clip_bundle import preprocess
        self.model, self.name, self.source = model, name, str(source)
        self.image_size, self.mean, self.std = preprocess(model)
        self.tokenizer = open_clip.get_tokenizer(name)
        if freeze_text:  # image tower and temperature train; the text tower stays as it was
            for key, param in model.named_parameters():
                param.requires_grad_(key.startswith("visual.") or key in OPEN_CLIP_TEMPERATURES)
        self.freeze_text = freeze_text

    def state(self):
        return tuned_state(self.model)

    def load_state(self, state):
        unknown = sorted(set(state) - set(self.model.state_dict()))
        if unknown:
            raise ValueError(f"tensors {unknown[:8]} are not in open_clip's {self.name}")
        self.model.load_state_dict(state, strict=False)

    def text_inputs(self, texts):
        return self.tokenizer(list(texts))

    def encode_text_inputs(self, inputs):
        return self.model.encode_text(inputs)

    def encode_images(self, pixels):
        return self.model.encode_image(pixels)

    def save(self, path, info):
        """The whole state dict (.pt): `--open-clip-checkpoint` of export and of this tool."""
        path = Path(path).with_suffix(".pt")
        with atomic_path(path) as tmp:
            torch.save(self.model.state_dict(), tmp)
        atomic_write_text(path.with_suffix(".json"), json.dumps(
            {"open_clip_model": self.name, **info}, indent=2) + "\n")
        return path

    def load_saved(self, path):
        state = torch.load(str(path), map_location="cpu", weights_only=True)
        self.load_state(state)

    def export_args(self, path):
        return ["--open-clip-model", self.name, "--open-clip-checkpoint", str(path)]


def encode_texts(subject, texts):
    """Embeddings (N, D) numpy of `texts`, in batches, without gradients."""
    chunks = []
    with torch.no_grad():
        for start in range(0, len(texts), TEXT_BATCH):
            inputs = subject.text_inputs(texts[start:start + TEXT_BATCH])
            chunks.append(subject.encode_text_inputs(inputs).float().numpy())
    return np.concatenate(chunks)


def build_subject(args):
    """The starting model named on the command line (TerraLens checkpoint or open_clip)."""
    if args.open_clip_model:
        from ..export.open_clip_bundle import load_open_clip
        if not args.open_clip_checkpoint:
            raise ValueError("--open-clip-model needs --open-clip-checkpoint (a local state dict)")
        model = load_open_clip(args.open_clip_model, args.open_clip_checkpoint,
                               args.open_clip_config)
        return OpenClipSubject(model, args.open_clip_model, args.open_clip_checkpoint,
                               args.freeze_text)
    from ..export.export import load_terralens
    model, info, size = load_terralens(args.checkpoint, args.image_size)
    return TerraLensSubject(model, size, args.checkpoint, info)


@dataclass
class CaptionData:
    """Fine-tuning images (N, S, S, 3) uint8 with each image's caption rows into `texts`."""

    images: torch.Tensor
    texts: list
    caption_rows: list
    paths: list


def load_caption_data(tsv, split, size, image_root=None, threads=1):
    """Read a `split image scene_class caption` TSV split and its images at `size` pixels."""
    dataset = CaptionDataset(tsv, image_root, split, size=None)
    texts, row_of, caption_rows = [], {}, []
    for item in dataset.items:
        for caption in item.captions:
            if caption not in row_of:
                row_of[caption] = len(texts)
                texts.append(caption)
        caption_rows.append(np.asarray([row_of[c] for c in item.captions], np.int64))
    with ThreadPoolExecutor(max(1, threads)) as pool:
        images = list(pool.map(lambda item: load_rgb(item.path, size), dataset.items))
    return CaptionData(torch.from_numpy(np.stack(images)), texts, caption_rows,
                       [item.path for item in dataset.items])


class _Holder(nn.Module):
    """Exposes the model as `.model`, the layout `runtime.param_groups` expects."""

    def __init__(self, model):
        super().__init__()
        self.model = model


def contrastive_loss(subject, text_inputs, captions, images, clip_loss):
    """MultiPositiveClipLoss of normalised `images` against their caption rows `captions`."""
    ids = torch.as_tensor(captions)
    image = subject.encode_images(images.contiguous(memory_format=torch.channels_last))
    text = subject.encode_text_inputs(text_inputs[ids])
    scale = subject.model.logit_scale.exp().clamp(max=100)
    return clip_loss(F.normalize(image.float(), dim=-1), F.normalize(text.float(), dim=-1),
                     scale.float(), caption_ids=ids)


@torch.no_grad()
def probe_loss(subject, data, text_inputs, idx, clip_loss):
    """Loss in eval mode on fixed images (no augmentation) with their first captions."""
    training = subject.model.training
    subject.model.eval()
    images = normalize(augment(data.images[idx], subject.image_size, {"enabled": False}),
                       subject.mean, subject.std)
    loss = contrastive_loss(subject, text_inputs, [data.caption_rows[i][0] for i in idx],
                            images, clip_loss)
    subject.model.train(training)
    return float(loss)


def finetune(subject, data, epochs, batch_size, lr, backbone_lr_scale=0.5, weight_decay=0.05,
             augment_cfg=None, seed=0, max_steps=None, log=None):
    """Fine-tune `subject.model` in place with the contrastive loss; return a summary.

    Args:
        augment_cfg: the recipe's `augment` section (default: the default recipe's).
        backbone_lr_scale: lr of `subject.backbone_prefixes` parameters, relative to `lr`.
        max_steps: stop after this many steps (smoke tests).
    """
    if augment_cfg is None:
        from ..recipes import load_recipe
        augment_cfg = load_recipe("default")["augment"]
    batch = min(batch_size, len(data.caption_rows))
    if batch < 2:
        raise WiseFtError("contrastive fine-tuning needs at least 2 images")
    total = epochs * (len(data.caption_rows) // batch)
    total = min(total, max_steps) if max_steps else total
    optim = {"lr_heads": lr, "lr_backbone": lr * backbone_lr_scale, "weight_decay": weight_decay,
             "backbone_prefixes": list(subject.backbone_prefixes), "betas": [0.9, 0.98],
             "eps": 1e-6, "warmup_fraction": 0.05, "min_lr_fraction": 0.0}
    optimizer, scheduler = build_optimizer(_Holder(subject.model), optim, max(total, 1))
    clip_loss, rng = MultiPositiveClipLoss(), np.random.default_rng(seed)
    torch.manual_seed(seed)
    text_inputs = subject.text_inputs(data.texts)
    probe = np.linspace(0, len(data.caption_rows) - 1, batch).round().astype(np.int64)
    before = probe_loss(subject, data, text_inputs, probe, clip_loss)
    subject.model.train()
    losses, step, started = [], 0, time.time()
    for epoch in range(epochs):
        order = rng.permutation(len(data.caption_rows))
        for start in range(0, len(order) - batch + 1, batch):
            if step >= total:
                break
            idx = order[start:start + batch]
            captions = [rows[rng.integers(len(rows))] for rows in
                        (data.caption_rows[i] for i in idx)]
            images = normalize(augment(data.images[torch.as_tensor(idx)], subject.image_size,
                                       augment_cfg), subject.mean, subject.std)
            loss = contrastive_loss(subject, text_inputs, captions, images, clip_loss)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(subject.model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            with torch.no_grad():  # open_clip's cap on the temperature
                subject.model.logit_scale.clamp_(0, math.log(100))
            step += 1
            losses.append((epoch, loss.item()))
            if log:
                log.write("train", epoch=epoch, step=step, loss=losses[-1][1],
                          lr=optimizer.param_groups[0]["lr"])
    seconds = time.time() - started
    subject.model.eval()
    epochs_run = sorted({e for e, _ in losses})
    return {"steps": step, "epochs": len(epochs_run), "batch_size": batch, "lr": lr,
            "backbone_lr": lr * backbone_lr_scale, "weight_decay": weight_decay,
            "seconds": round(seconds, 1),
            "images_per_s": round(step * batch / max(seconds, 1e-9), 1),
            "loss_first_epoch": _mean_loss(losses, epochs_run[:1]),
            "loss_last_epoch": _mean_loss(losses, epochs_run[-1:]),
            "probe_loss_before": before,
            "probe_loss_after": probe_loss(subject, data, text_inputs, probe, clip_loss)}


def _mean_loss(losses, epochs):
    values = [loss for epoch, loss in losses if epoch in epochs]
    return float(np.mean(values)) if values else None
