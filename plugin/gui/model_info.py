"""What the model manager says about a bundle: figures in words, provenance, card, conversion."""

import html
from pathlib import PurePath

from ..core.transductive import settings_for

CONVERT_HELP = (
    "Bigger models: convert an open_clip checkpoint (RemoteCLIP, GeoRSCLIP, SkyCLIP, ...) into a "
    "bundle with TerraLens's training package, then add its folder here:\n"
    "python -m training export --open-clip-model ViT-B-32 --open-clip-checkpoint CKPT "
    "--out FOLDER")
# What the evaluation keys of bundle.json measure, for people (unknown keys are spelled out).
FIGURE_NAMES = {
    "zero_shot_ucm21_top1": "Zero-shot labels, UC Merced (21 classes): % right",
    "zero_shot_rsscn7_top1": "Zero-shot labels, RSSCN7 (7 classes): % right",
    "rsicd_aid_test_mean_recall": "Text search, RSICD test captions: mean recall",
    "ucm_captions_mean_recall": "Text search, UCM-Captions: mean recall",
    "ucm_captions_test_mean_recall": "Text search, UCM-Captions test split: mean recall",
    "knn20_ucm_top1": "Image similarity, UC Merced (20 nearest): % right",
    "knn20_rsscn7_top1": "Image similarity, RSSCN7 (20 nearest): % right",
    "spacenet_building_iou_at_0.5": "Building masks, SpaceNet Atlanta: IoU %",
    "spacenet_building_iou_masks_v2": "Building masks, SpaceNet Atlanta, today's mask method: "
                                      "IoU %",
    "sentinel2_test_water_iou_masks_v2": "Water masks, Sentinel-2 test patches: IoU %",
    "sentinel2_test_vegetation_iou_masks_v2": "Vegetation masks, Sentinel-2 test patches: IoU %",
    **{f"{data}_k{k}_top1": f"{name}, {k} example{'s' if k > 1 else ''} a class: % right"
       for data, name in (("ucm21", "Labels from examples, UC Merced"),
                          ("rsscn7", "Labels from examples, RSSCN7")) for k in (1, 5, 16)},
    "protocol": "How measured",
}
SUFFIXES = {"_prompt_ensemble": " (prompt ensemble)"}
GROUPS = {"text_int8": "with the 8-bit text encoder", "published": "published, for comparison",
          "transductive": "labels refined with the whole set (transductive)",
          "fewshot_with_class_names": "with the class names, not refined",
          "fewshot_with_class_names_refined": "with the class names, refined (the default)",
          "three_rotations": "each tile in 3 rotations (the plugin's default)",
          "three_rotations_refined": "3 rotations, refined (examples with class names, "
                                     "their classes kept)",
          "three_rotations_examples_default": "3 rotations, examples with class names, refined "
                                              "under 8 a class (the plugin's defaults)",
          "version_1": "the model's previous version, for comparison"}
TRAINING_FACTS = (  # (label, path in provenance)
    ("Trained on", ("data", "source")), ("Training images", ("data", "images")),
    ("Recipe", ("recipe", "name")), ("Epochs", ("recipe", "optim", "epochs")),
    ("Device", ("training", "device")), ("Training time (s)", ("training", "train_seconds")),
    ("Images per second", ("training", "images_per_s")), ("Weights", ("weights",)),
    ("Note", ("note",)), ("Source revision", ("git_revision",)))


def figure_name(key, group=""):
    """A bundle.json evaluation key in words ("zero_shot_ucm21_top1" -> "Zero-shot ...")."""
    suffix = ""
    for ending, words in SUFFIXES.items():
        if key.endswith(ending):
            key, suffix = key[:-len(ending)], words
    name = FIGURE_NAMES.get(key) or key.replace("_", " ").capitalize()
    return name + suffix + (f", {GROUPS.get(group, group.replace('_', ' '))}" if group else "")


def readable(value):
    """Numbers to 3 significant figures; paths to their file name (no folders of other
    machines); anything else as text."""
    if isinstance(value, float):
        return f"{value:.3g}"
    text = str(value)
    return ", ".join(PurePath(part).name if "/" in part and " " not in part.strip() else part
                     for part in text.split(", "))


def evaluation_rows(evaluation):
    """(name, value) rows of the evaluation figures, nested groups named after their group."""
    rows = []
    for key, value in (evaluation or {}).items():
        if isinstance(value, dict):
            rows += [(figure_name(inner, key), readable(v)) for inner, v in value.items()
                     if not isinstance(v, dict)]
        elif key.endswith("_note"):
            rows.append(("Note", readable(value)))
        else:
            rows.append((figure_name(key), readable(value)))
    return rows


def training_rows(provenance):
    """The few provenance facts a user cares about (the whole recipe stays in bundle.json)."""
    rows = []
    for label, path in TRAINING_FACTS:
        value = provenance
        for step in path:
            value = value.get(step) if isinstance(value, dict) else None
        if value not in (None, ""):
            rows.append((label, readable(value)[:12] if label == "Source revision"
                         else readable(value)))
    return rows


def _rows(pairs):
    return "".join(f"<tr><td><b>{html.escape(str(key))}</b>&nbsp;&nbsp;</td>"
                   f"<td>{html.escape(str(value))}</td></tr>" for key, value in pairs)


def describe_bundle(bundle, default=False):
    """HTML: id, sizes, tiling, encoders, then evaluation figures and training facts."""
    gsd = f"{bundle.gsd_m:g} m/pixel" if bundle.gsd_m else "the raster's own pixels"
    if bundle.scale is not None:
        low, high = bundle.scale.gsd_range_m
        gsd = (f"{low:g} to {high:g} m/pixel, chosen for each raster (pixels enlarged at most "
               f"{bundle.scale.max_upsampling:g}x)")
    facts = [("id", bundle.id), ("name", bundle.name or "-"), ("folder", bundle.folder),
             ("embedding size", bundle.embedding_dim),
             ("tile size", f"{bundle.tile_size} pixels at {gsd}"),
             *[(f"image encoder {spec.name}", _encoder_text(spec)) for spec in bundle.image_specs],
             ("location encoder", bundle.location.description or bundle.location.file
              if bundle.location else "none"),
             ("tokenizer", f"{bundle.text.tokenizer}, {bundle.text.context_length} tokens"),
             ("prompt template", bundle.prompt_template),
             ("refined label scores", _softening_text(bundle))]
    provenance = dict(bundle.provenance or {})
    figures = evaluation_rows(provenance.get("evaluation"))
    parts = [f"<h3>{html.escape(bundle.id)}{' (default)' if default else ''}</h3>",
             f"<table>{_rows(facts)}</table>", "<h4>Evaluation</h4>"]
    parts.append(f"<table>{_rows(figures)}</table>" if figures else
                 "<p>No evaluation figures in this bundle.</p>")
    training = training_rows(provenance)
    if training:
        parts += ["<h4>Training</h4>", f"<table>{_rows(training)}</table>",
                  "<p>The whole recipe is in the bundle's <code>bundle.json</code>.</p>"]
    return "".join(parts)


def _softening_text(bundle):
    """How refined label scores are softened, and whose value that is."""
    temperature = settings_for(bundle).score_temperature
    whose = ("this model's" if bundle.refine_score_temperature is not None
             else "the plugin's; this bundle records none")
    return f"softened by {temperature:g} ({whose})"


def _encoder_text(spec):
    """"128 px, bands red, green, blue" plus its adapter, GSD and description when it has them."""
    text = f"{spec.size} px, bands {', '.join(spec.bands)}"
    if spec.adapter:
        text += f"; band adapter {spec.adapter}"
    if spec.gsd_m is not None:
        text += f"; {spec.gsd_m:g} m/pixel"
    return f"{text}; {spec.description}" if spec.description else text


def model_card(bundle):
    """The text of the bundle's MODEL_CARD.md ("" when it has none)."""
    path = bundle.path("MODEL_CARD.md")
    return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
