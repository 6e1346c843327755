"""Train the default encoders from a pack: contrastive (+ masked image modelling, + location).

`python -m training train --recipe training/recipes/default.json --pack packs/x.pack --out runs/x`
on one CPU or GPU, or under `torchrun --nproc_per_node N` (DDP). See training/README.md.
"""

import argparse
import contextlib
import json
import math
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ..data.pack import PackDataset
from ..model.checkpoint import git_revision, save_checkpoint
from ..objectives.losses import MultiPositiveClipLoss
from ..recipes import load_recipe
from .holdout import holdout_split, quick_retrieval
from .runtime import JsonlLog, build_optimizer, memory_stats, setup_runtime, shutdown_runtime
from .step import active_objectives, build_module, compute_losses, make_batch


@dataclass
class TrainData:
    """A pack on the training device: images, caption tables, coordinates, train/val indices."""

    pack: PackDataset
    images: torch.Tensor
    text_features: torch.Tensor
    caption_offsets: torch.Tensor
    caption_rows: torch.Tensor
    class_wordings: torch.Tensor  # (N, T) rows of each image's class caption wordings, or None
    lonlat: torch.Tensor
    train_idx: np.ndarray
    val_idx: np.ndarray


@dataclass
class Progress:
    """Counters of a run: steps, images seen, training seconds and the best validation so far."""

    step: int = 0
    images: int = 0
    train_seconds: float = 0.0
    best: float = -1.0
    best_info: dict = field(default_factory=dict)


def load_data(pack_path, recipe, runtime, limit=None):
    """Decode a pack into device memory and hold out the validation slice of its images."""
    pack = PackDataset(pack_path, recipe["runtime"]["decode_threads"], limit)
    device = runtime.device
    offsets, rows = pack.caption_table(recipe["data"]["class_captions"])
    natural = np.flatnonzero(np.diff(pack.caption_offsets) > 0)
    train_idx, val_idx = holdout_split(len(pack), recipe["data"]["val_fraction"],
                                       recipe["data"]["val_max_images"], recipe["seed"], natural)
    if len(rows):  # every training image needs a caption when there are captions at all
        train_idx = np.intersect1d(train_idx, np.flatnonzero(np.diff(offsets) > 0))
    lonlat = None if pack.lonlat is None else torch.as_tensor(pack.lonlat, device=device)
    wordings = class_wordings(pack, recipe)
    return TrainData(pack, torch.as_tensor(pack.images, device=device),
                     torch.as_tensor(pack.text_features, device=device).float(),
                     torch.as_tensor(offsets, device=device), torch.as_tensor(rows, device=device),
                     None if wordings is None else torch.as_tensor(wordings, device=device),
                     lonlat, train_idx, val_idx)


def class_wordings(pack, recipe):
    """(N, T) caption rows of each image's class caption in every wording (-1 without a class),
    when the recipe draws wordings (`data.class_caption_templates`); else None."""
    if not (recipe["data"]["class_captions"] and recipe["data"]["class_caption_templates"]):
        return None
    if pack.class_template_rows is None:
        raise ValueError(f"{pack.path} holds no class caption wordings (packed before they "
                         "existed): rebuild it with `python -m training pack`, or set "
                         "data.class_caption_templates=false")
    rows = pack.class_template_rows[np.maximum(pack.class_ids, 0)].astype(np.int64)
    rows[pack.class_ids < 0] = -1
    return rows


def epoch_indices(train_idx, epoch, seed, global_batch, runtime):
    """This rank's batches of one epoch: one shared shuffle, each global batch split by rank."""
    order = np.random.default_rng(seed + 1000 * (epoch + 1)).permutation(train_idx)
    per_rank = global_batch // runtime.world
    return [order[s * global_batch + runtime.rank * per_rank:
                  s * global_batch + (runtime.rank + 1) * per_rank]
            for s in range(len(order) // global_batch)]


def autocast(runtime, recipe):
    """bf16 autocast on CUDA when the recipe asks for it; a no-op elsewhere."""
    if runtime.cuda and recipe["runtime"]["bf16"]:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def weight_average(model, decay):
    """An exponential moving average of `model`'s weights and buffers (BatchNorm statistics
    too), updated after every step; None when `decay` is 0 (off)."""
    if not decay:
        return None
    if not 0.0 < decay < 1.0:
        raise ValueError(f"optim.ema_decay must be 0 (off) or between 0 and 1, got {decay}")
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def wrap_for_training(module, runtime, recipe):
    """DDP across ranks (when several) and `torch.compile` (when the recipe asks)."""
    if runtime.world > 1:
        module = torch.nn.parallel.DistributedDataParallel(
            module, device_ids=[runtime.device] if runtime.cuda else None,
            find_unused_parameters=recipe["runtime"]["find_unused_parameters"])
    return torch.compile(module) if recipe["runtime"]["compile"] else module


class Trainer:
    """One training run: data, model, optimiser, the loop, validation and checkpoints."""

    def __init__(self, recipe, pack_path, out, runtime, max_steps=None, limit_images=None):
        self.recipe, self.out, self.runtime = recipe, Path(out), runtime
        torch.manual_seed(recipe["seed"] + runtime.rank)
        if recipe["runtime"]["threads"]:
            torch.set_num_threads(recipe["runtime"]["threads"])
        self.log = JsonlLog(self.out / "log.jsonl", runtime.is_main)
        self.data = load_data(pack_path, recipe, runtime, limit_images)
        self.objectives = active_objectives(recipe, self.data)
        self.model, self.module = build_module(recipe, self.objectives, runtime.device)
        from ..model.model import IMAGE_MEAN, IMAGE_STD
        self.mean, self.std = IMAGE_MEAN, IMAGE_STD
        optim = recipe["optim"]
        usable = len(self.data.train_idx) // runtime.world * runtime.world
        self.batch = min(optim["batch_size"] // runtime.world * runtime.world, usable)
        if self.batch < 2 * runtime.world:
            raise ValueError(f"only {len(self.data.train_idx)} training images: too few for a "
                             f"batch on {runtime.world} rank(s)")
        self.total_steps = optim["epochs"] * (len(self.data.train_idx) // self.batch)
        self.total_steps = min(self.total_steps, max_steps or self.total_steps)
        self.optimizer, self.scheduler = build_optimizer(self.module, optim, self.total_steps)
        self.ema = weight_average(self.model, optim.get("ema_decay", 0.0))
        self.step_module = wrap_for_training(self.module, runtime, recipe)
        self.clip_loss = MultiPositiveClipLoss(rank=runtime.rank, world_size=runtime.world)
        self.progress = Progress()

    def step(self, idx):
        """One optimisation step on the images `idx`; returns the detached losses."""
        batch = make_batch(self.data, idx, self.recipe, self.objectives, self.mean, self.std)
        with autocast(self.runtime, self.recipe):
            out = self.step_module(batch["images"], batch.get("text_features"),
                                   batch.get("masked_images"), batch.get("lonlat"))
        losses = compute_losses(out, batch, self.objectives, self.recipe, self.clip_loss)
        self.optimizer.zero_grad(set_to_none=True)
        losses["total"].backward()
        if self.recipe["optim"]["grad_clip_norm"]:
            torch.nn.utils.clip_grad_norm_(self.module.parameters(),
                                           self.recipe["optim"]["grad_clip_norm"])
        self.optimizer.step()
        self.scheduler.step()
        with torch.no_grad():  # open_clip's cap on the temperature
            self.model.logit_scale.clamp_(0, math.log(100))
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        return {name: loss.detach() for name, loss in losses.items()}

    @property
    def kept_model(self):
        """The weights validated and saved: their moving average when the recipe asks for
        one (`optim.ema_decay`), else the model as trained."""
        return self.ema.module if self.ema is not None else self.model

    def sync(self):
        """Wait for the device, so that wall-clock timings measure finished work."""
        if self.runtime.cuda:
            torch.cuda.synchronize(self.runtime.device)

    def run_epoch(self, epoch):
        """Train one epoch (or until the step budget is spent); log the losses on the way."""
        batches = epoch_indices(self.data.train_idx, epoch, self.recipe["seed"], self.batch,
                                self.runtime)
        every = self.recipe["runtime"]["log_every_steps"]
        window, window_images = [], 0
        self.sync()
        started = window_started = time.time()
        for idx in batches:
            if self.progress.step >= self.total_steps:
                break
            window.append(self.step(idx))
            self.progress.step += 1
            window_images += len(idx) * self.runtime.world
            if len(window) == every:
                self.sync()
                self.log_steps(epoch, window, window_images, time.time() - window_started)
                window, window_images, window_started = [], 0, time.time()
        self.sync()
        if window:
            self.log_steps(epoch, window, window_images, time.time() - window_started)
        seconds = time.time() - started
        self.progress.train_seconds += seconds
        return seconds

    def log_steps(self, epoch, window, images, seconds):
        """Write the mean losses of the last steps, throughput and the lr to the log."""
        self.progress.images += images
        means = {f"loss_{name}" if name != "total" else "loss":
                 float(torch.stack([w[name] for w in window]).float().mean())
                 for name in window[0]}
        self.log.write("train", epoch=epoch, step=self.progress.step, **means,
                       lr={g["name"]: g["lr"] for g in self.optimizer.param_groups},
                       logit_scale=float(self.model.logit_scale.detach().exp()),
                       images_per_s=round(images / max(seconds, 1e-9), 1),
                       **memory_stats(self.runtime))

    def validate(self):
        """Retrieval recall on the held-out train images (None without a held-out slice)."""
        data = self.data
        if not len(data.val_idx) or not len(data.caption_rows):
            return None
        rows = [data.pack.captions_of(i, False) for i in data.val_idx]
        return quick_retrieval(self.kept_model, data.images[torch.as_tensor(data.val_idx)], rows,
                               data.text_features, self.recipe["model"]["image_size"],
                               self.mean, self.std, self.recipe["runtime"]["eval_batch_size"],
                               lambda: autocast(self.runtime, self.recipe))

    def checkpoint_info(self, epoch, metrics):
        """What the checkpoint JSON says about how its weights were made."""
        progress = self.progress
        return {"recipe": self.recipe, "git_revision": git_revision(), "epoch": epoch,
                "step": progress.step, "objectives": self.objectives, "val": metrics,
                "train_seconds": round(progress.train_seconds, 2),
                "images_per_s": round(progress.images / max(progress.train_seconds, 1e-9), 1),
                "pack": {"path": str(self.data.pack.path), "images": len(self.data.pack),
                         "train_images": len(self.data.train_idx),
                         "val_images": len(self.data.val_idx), "size": self.data.pack.size,
                         "source": self.data.pack.meta.get("source", "")},
                "device": device_name(self.runtime), "world_size": self.runtime.world,
                "global_batch": self.batch, "torch": torch.__version__}

    def end_epoch(self, epoch, seconds):
        """Validate (main rank), keep the checkpoint of the best epoch, log the epoch."""
        if not self.runtime.is_main:
            return
        metrics = self.validate()
        score = metrics["mean_recall"] if metrics else float(epoch)  # no val: keep the last
        improved = score > self.progress.best
        if improved:
            self.progress.best = score
            self.progress.best_info = save_checkpoint(
                self.kept_model, self.out / "best.safetensors",
                self.checkpoint_info(epoch, metrics))
        self.log.write("epoch", epoch=epoch, step=self.progress.step, seconds=round(seconds, 2),
                       val=metrics, best=improved, **memory_stats(self.runtime))

    def fit(self):
        """The whole run; returns its summary (main rank) or None (other ranks)."""
        recipe = self.recipe
        self.log.write("start", recipe=recipe, objectives=self.objectives,
                       device=device_name(self.runtime), world_size=self.runtime.world,
                       global_batch=self.batch, total_steps=self.total_steps,
                       train_images=len(self.data.train_idx), val_images=len(self.data.val_idx),
                       git_revision=git_revision())
        if self.runtime.is_main:
            (self.out / "recipe.json").write_text(json.dumps(recipe, indent=2) + "\n")
            self.log.write("val_before_training", val=self.validate())
        for epoch in range(recipe["optim"]["epochs"]):
            if self.progress.step >= self.total_steps:
                break
            seconds = self.run_epoch(epoch)
            if (epoch + 1) % recipe["runtime"]["eval_every_epochs"] == 0 or \
                    self.progress.step >= self.total_steps:
                self.end_epoch(epoch, seconds)
        return self.finish()

    def finish(self):
        """Save the last weights if asked, log the end and return the run's summary."""
        if not self.runtime.is_main:
            return None
        progress = self.progress
        if self.recipe["runtime"]["save_last"]:
            save_checkpoint(self.kept_model, self.out / "last.safetensors",
                            self.checkpoint_info(None, None))
        summary = {"out": str(self.out), "steps": progress.step,
                   "train_seconds": round(progress.train_seconds, 2),
                   "images_per_s": round(progress.images / max(progress.train_seconds, 1e-9), 1),
                   "best_epoch": progress.best_info.get("epoch"),
                   "best_val": progress.best_info.get("val"), **memory_stats(self.runtime)}
        self.log.write("end", **summary)
        return summary


def device_name(runtime):
    """A readable name of the training device."""
    if runtime.cuda:
        return torch.cuda.get_device_name(runtime.device)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def train(recipe, pack, out, max_steps=None, limit_images=None, device="auto"):
    """Train with a loaded recipe; return the summary dict (None on ranks other than 0)."""
    runtime = setup_runtime(device)
    try:
        return Trainer(recipe, pack, out, runtime, max_steps, limit_images).fit()
    finally:
        shutdown_runtime(runtime)


def parse_args(argv=None):
    """Command-line options of `python -m training train`."""
    parser = argparse.ArgumentParser(prog="python -m training train",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="default", help="recipe file or name")
    parser.add_argument("--pack", required=True, help="pack built by `python -m training pack`")
    parser.add_argument("--out", required=True, help="run folder (log, checkpoints)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a recipe knob, e.g. optim.epochs=5 (repeatable)")
    parser.add_argument("--max-steps", type=int, help="stop after this many steps (smoke runs)")
    parser.add_argument("--limit-images", type=int, help="use only this many pack images")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    return parser.parse_args(argv)


def main(argv=None):
    """Train from the command line and print the run's summary as JSON."""
    args = parse_args(argv)
    recipe = load_recipe(args.recipe, args.set)
    summary = train(recipe, args.pack, args.out, args.max_steps, args.limit_images, args.device)
    if summary is not None:
        print(json.dumps(summary, indent=2))
