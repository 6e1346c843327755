"""The range of ground scales a model knows, from the data it was trained and evaluated on.

A model pixel covers (original pixel size) x (original side) x (crop share of the side) /
(model input size) metres of ground. Training crops a share of each image's side between the
square root of the recipe's smallest crop area and 1; evaluation (`python -m training
evaluate`, the protocol of ../shared/data/DATA.md) feeds whole UC Merced and RSSCN7 images.
"""

import math

from terralens.plugin.core.bundle import DEFAULT_MAX_UPSAMPLING, ScaleSpec

from ..data.scales import DATASET_SCALES, dataset_scale

EVALUATED_ON = ("ucm", "rsscn7")


def trained_gsd(source, image_size, crop_scale=(1.0, 1.0)):
    """(finest, coarsest) metres a model pixel in training, or None for an unknown source."""
    data = dataset_scale(source)
    if data is None:
        return None
    smallest_side = math.sqrt(min(crop_scale)) if crop_scale else 1.0
    return [_round(data.gsd_m[0] * data.side_px * smallest_side / image_size),
            _round(data.gsd_m[1] * data.side_px / image_size)]


def evaluated_gsd(image_size, datasets=EVALUATED_ON):
    """(finest, coarsest) metres a model pixel over the evaluation sets, whole images."""
    values = [g * DATASET_SCALES[d].side_px / image_size
              for d in datasets for g in DATASET_SCALES[d].gsd_m]
    return [_round(min(values)), _round(max(values))]


def scale_spec(source, image_size, crop_scale, max_upsampling=DEFAULT_MAX_UPSAMPLING):
    """The bundle's ScaleSpec for a model trained on `source` at `image_size` px with random
    crops of `crop_scale` of the area; None when the source's scales are unknown."""
    trained = trained_gsd(source, image_size, crop_scale)
    if trained is None:
        return None
    evaluated = evaluated_gsd(image_size)
    names = ", ".join(f"{DATASET_SCALES[d].name} ({DATASET_SCALES[d].source})"
                      for d in (str(source).split(":")[0],) + EVALUATED_ON)
    return ScaleSpec(gsd_range_m=[min(trained[0], evaluated[0]), max(trained[1], evaluated[1])],
                     max_upsampling=float(max_upsampling), trained_gsd_m=trained,
                     evaluated_gsd_m=evaluated,
                     source=(f"trained on {source} at {image_size} px, random crops of "
                             f"{min(crop_scale or [1.0]):g}-1 of the area; evaluated on whole "
                             f"images of {', '.join(EVALUATED_ON)} at {image_size} px; "
                             f"datasets: {names}; training/export/scale_range.py"))


def bundle_scale_spec(bundle, max_upsampling=None):
    """The ScaleSpec of an exported TerraLens bundle from its own provenance (recipe, data).

    Returns None when the provenance does not say what the model was trained on.
    """
    provenance = bundle.provenance or {}
    data, recipe = _section(provenance, "data"), _section(provenance, "recipe")
    augment = _section(recipe, "augment")
    crop = augment.get("crop_scale") if augment.get("enabled", True) else None
    size = _section(recipe, "model").get("image_size") or data.get("size") or bundle.image.size
    most = max_upsampling or (bundle.scale.max_upsampling if bundle.scale
                              else DEFAULT_MAX_UPSAMPLING)
    return scale_spec(data.get("source"), int(size), crop or (1.0, 1.0), most)


def scale_from_args(args, bundle):
    """The exporter's ScaleSpec: --gsd-range-m when given, else from the bundle's provenance
    (None: neither; the plugin then tiles every raster at the bundle's `gsd_m`)."""
    most = getattr(args, "max_upsampling", None)
    given = getattr(args, "gsd_range_m", None)
    if given:
        return ScaleSpec(gsd_range_m=sorted(float(v) for v in given),
                         max_upsampling=float(most or DEFAULT_MAX_UPSAMPLING),
                         source="given to the exporter (--gsd-range-m)")
    return bundle_scale_spec(bundle, most)


def _section(record, key):
    """`record[key]` when it is a dict, else {} (provenance written by other exporters)."""
    value = record.get(key)
    return value if isinstance(value, dict) else {}


def _round(value):
    return float(f"{value:.3g}")
