"""What the model manager says about a bundle: figures, provenance, card, how to convert one."""

import html

CONVERT_HELP = (
    "Bigger models: convert an open_clip checkpoint (RemoteCLIP, GeoRSCLIP, SkyCLIP, ...) into a "
    "bundle with TerraLens's training package, then add its folder here:\n"
    "python -m training export --open-clip-model ViT-B-32 --open-clip-checkpoint CKPT "
    "--out FOLDER")


def flatten(value, prefix=""):
    """Nested dicts as (dotted key, value) pairs, in order."""
    if isinstance(value, dict):
        pairs = []
        for key, inner in value.items():
            pairs += flatten(inner, f"{prefix}.{key}" if prefix else str(key))
        return pairs
    if isinstance(value, float):
        value = f"{value:.4g}"
    return [(prefix, value)]


def _rows(pairs):
    return "".join(f"<tr><td><b>{html.escape(str(key))}</b></td>"
                   f"<td>{html.escape(str(value))}</td></tr>" for key, value in pairs)


def describe_bundle(bundle, default=False):
    """HTML: id, sizes, tiling, tokenizer, then evaluation figures and the rest of provenance."""
    gsd = f"{bundle.gsd_m:g} m/pixel" if bundle.gsd_m else "the raster's own pixels"
    facts = [("id", bundle.id), ("name", bundle.name or "-"), ("folder", bundle.folder),
             ("embedding size", bundle.embedding_dim),
             ("tile size", f"{bundle.tile_size} pixels at {gsd}"),
             *[(f"image encoder {spec.name}", _encoder_text(spec)) for spec in bundle.image_specs],
             ("location encoder", bundle.location.description or bundle.location.file
              if bundle.location else "none"),
             ("tokenizer", f"{bundle.text.tokenizer}, {bundle.text.context_length} tokens"),
             ("prompt template", bundle.prompt_template)]
    provenance = dict(bundle.provenance or {})
    evaluation = provenance.pop("evaluation", None)
    parts = [f"<h3>{html.escape(bundle.id)}{' (default)' if default else ''}</h3>",
             f"<table>{_rows(facts)}</table>", "<h4>Evaluation</h4>"]
    parts.append(f"<table>{_rows(flatten(evaluation))}</table>" if evaluation else
                 "<p>No evaluation figures in this bundle.</p>")
    if provenance:
        parts += ["<h4>Provenance</h4>", f"<table>{_rows(flatten(provenance))}</table>"]
    return "".join(parts)


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
