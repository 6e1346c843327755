"""Training run plumbing: devices and DDP ranks, the JSONL log, optimiser groups and schedule."""

import json
import math
import os
import time
from dataclasses import dataclass

import torch


@dataclass
class Runtime:
    """Where this process trains: its device and its place among `torchrun` ranks."""

    device: torch.device
    rank: int = 0
    world: int = 1

    @property
    def is_main(self):
        return self.rank == 0

    @property
    def cuda(self):
        return self.device.type == "cuda"


def setup_runtime(device="auto"):
    """Pick the device and join the process group when started by `torchrun` (WORLD_SIZE > 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Runtime(device, rank, world)


def shutdown_runtime(runtime):
    """Leave the process group, if one was joined."""
    if runtime.world > 1 and torch.distributed.is_initialized():
        torch.distributed.barrier()  # rank 0 may still be validating or saving
        torch.distributed.destroy_process_group()


class JsonlLog:
    """Append-only JSON-lines log, one record an event; only the main rank writes."""

    def __init__(self, path, enabled=True):
        self.path, self.enabled, self.started = path, enabled, time.time()
        if enabled:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("", encoding="utf-8")

    def write(self, event, **fields):
        """Log one event with the wall time since the log was opened."""
        if not self.enabled:
            return
        record = {"event": event, "wall_s": round(time.time() - self.started, 3), **fields}
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")


def _no_decay(name, param):
    """Biases, norm weights and temperatures take no weight decay (open_clip's rule)."""
    return param.ndim < 2 or "logit_scale" in name or "bias" in name


def param_groups(module, optim):
    """AdamW groups: backbone vs heads (their own lr) x with vs without weight decay.

    Backbone parameters are those of `module.model` whose names start with one of
    `optim["backbone_prefixes"]`; everything else trainable (projections, pooling, auxiliary
    heads, temperatures) is a head.
    """
    groups = {}
    for name, param in module.named_parameters():
        if not param.requires_grad:
            continue
        inner = name.split("model.", 1)[1] if name.startswith("model.") else ""
        part = "backbone" if inner.startswith(tuple(optim["backbone_prefixes"])) else "heads"
        decay = 0.0 if _no_decay(name, param) else optim["weight_decay"]
        key = (part, decay)
        if key not in groups:
            groups[key] = {"params": [], "lr": optim[f"lr_{part}"], "weight_decay": decay,
                           "name": f"{part}{'' if decay else '_no_decay'}"}
        groups[key]["params"].append(param)
    if not any(part == "backbone" for part, _ in groups):
        raise ValueError(f"no trainable parameter starts with {optim['backbone_prefixes']}; "
                         "fix optim.backbone_prefixes in the recipe")
    return list(groups.values())


def cosine_with_warmup(total_steps, warmup_fraction, min_fraction=0.0):
    """lr factor of a step: linear warm-up, then cosine decay to `min_fraction`."""
    warmup = max(1, round(warmup_fraction * total_steps)) if warmup_fraction > 0 else 0

    def factor(step):
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
        return min_fraction + (1 - min_fraction) * cosine
    return factor


def build_optimizer(module, optim, total_steps):
    """AdamW over `param_groups` and its cosine-with-warm-up LambdaLR scheduler."""
    fused = {"fused": True} if next(module.parameters()).is_cuda else {}
    optimizer = torch.optim.AdamW(param_groups(module, optim), betas=tuple(optim["betas"]),
                                  eps=optim["eps"], **fused)
    schedule = cosine_with_warmup(total_steps, optim["warmup_fraction"], optim["min_lr_fraction"])
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)


def memory_stats(runtime):
    """Peak GPU memory in MiB (CUDA only), else an empty dict."""
    if not runtime.cuda:
        return {}
    return {"gpu_max_allocated_mib": round(torch.cuda.max_memory_allocated(runtime.device)
                                           / 2 ** 20, 1)}
