"""The training package's command lines, one verb each: `python -m training VERB [options]`.

A verb's module is imported only when that verb runs, so the verbs of the QGIS venv (`.venv`:
GDAL and onnxruntime, no torch) run there. `python -m training VERB --help` lists its options.
"""

import importlib
import sys

# verb: (its module under training/, the venv it runs in, what it does). Workflow order.
VERBS = {
    "pack": ("data.pack", ".venv-train",
             "pack images, caption features and labels into one file"),
    "checkpoint": ("model.checkpoint", ".venv-train",
                   "write the untrained trainable part of the default model"),
    "train": ("train.train", ".venv-train",
              "train the encoders on a pack (DDP under torchrun)"),
    "export": ("export.export", ".venv-train",
               "export a checkpoint or open_clip model as a bundle"),
    "evaluate": ("evaluate.evaluate", ".venv",
                 "zero-shot, retrieval, kNN and IoU of a bundle, as run"),
    "fewshot-select": ("evaluate.fewshot_select", ".venv",
                       "how the few-shot classifier was chosen (AID validation only)"),
    "mask-select": ("evaluate.mask_select", ".venv",
                    "how prompt-mask defaults are chosen (validation sets only)"),
    "score-select": ("evaluate.calibration", ".venv",
                     "how refined label scores are calibrated (AID validation)"),
    "encoder-select": ("evaluate.encoder_select", ".venv",
                       "whether a new image encoder replaces the default (AID validation)"),
    "wiseft": ("wiseft.wiseft", ".venv-train",
               "WiSE-FT: fine-tune, mix with the start, evaluate"),
    "distill": ("distill.distill", ".venv-train",
                "distil a band adapter for another sensor"),
    "distill-export": ("distill.export", ".venv-train",
                       "add a distilled band adapter to a bundle"),
    "dense-head": ("dense_head.train", ".venv-train",
                   "train the dense head on attention pseudo-labels"),
    "dense-head-figures": ("dense_head.figures", ".venv",
                           "before/after pictures of two bundles' masks"),
    "location-points": ("location.points", ".venv",
                        "embed the geotagged tiles for the location encoder"),
    "location": ("location.location", ".venv-train",
                 "`train` the location encoder or `export` it to a bundle"),
    "tiny-bundles": ("fixtures.tiny_bundles", ".venv-train",
                     "rebuild the tiny random test bundles (tests/data)"),
    "golden-tokens": ("fixtures.golden_tokens", ".venv-train",
                      "golden token ids of the reference tokenizers"),
}


def usage():
    """The verbs, one line each, with the venv each runs in."""
    width = max(map(len, VERBS))
    lines = ["usage: python -m training VERB [options]    (VERB --help: its options)", "",
             f"  {'verb':<{width}}  {'venv':<11}  what it does"]
    lines += [f"  {verb:<{width}}  {venv:<11}  {what}" for verb, (_, venv, what) in VERBS.items()]
    return "\n".join(lines)


def main(argv=None):
    """Run one verb with the rest of the arguments; returns its exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage(), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    verb, rest = argv[0], argv[1:]
    if verb not in VERBS:
        print(f"python -m training: unknown verb {verb!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"training.{VERBS[verb][0]}")
    return module.main(rest)


if __name__ == "__main__":
    sys.exit(main())
