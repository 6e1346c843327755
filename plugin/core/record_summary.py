"""A result's metadata record in a few sentences, for QGIS's layer Information page."""

from .outputs import METADATA_KEY


def record_summary(record):
    """What made the result and how far to trust it, from the record `provenance` writes
    (missing parts are left out); ends by saying where the full record is."""
    lines = []
    if record.get("model_id"):
        encoder = f" ({record['image_encoder']} encoder)" if record.get("image_encoder") else ""
        job = f" ({record['job']})" if record.get("job") else ""
        lines.append(f"Made by TerraLens{job} with the model {record['model_id']}{encoder}.")
    scale = _part(record, "scale")
    if scale.get("gsd_m") is not None:
        lines.append(f"Scale: {scale['gsd_m']:g} m of ground a model pixel, tiles of "
                     f"{scale.get('tile_ground_m', 0):g} m ({scale.get('how', '')}).")
    lines += _validation(_part(record, "validation"))
    examples = _part(record, "examples")  # a count in search-by-example records
    if examples:
        lines.append(f"Examples: {examples.get('given', 0)} given, {examples.get('used', 0)} "
                     f"used, {examples.get('outside', 0)} outside the rasters.")
    classifier = _part(record, "classifier")
    if classifier.get("method"):
        temperature = classifier.get("score_temperature", 1.0)
        scaled = (f"; scores scaled by 1/{temperature:.3g} to fit the examples"
                  if temperature != 1.0 else "")
        lines.append(f"Classifier: {classifier['method']}, text weight "
                     f"{classifier.get('text_weight', 0):.3g}{scaled}.")
    refinement = _part(record, "refinement")
    if refinement.get("ran"):
        softened = _part(_part(record, "parameters"), "refine").get("score_temperature")
        lines.append(f"Labels refined with all tiles together: {refinement.get('changed_tiles')} "
                     "changed" + (f"; scores softened by a temperature of {softened:g} (they "
                                  "still claim more than they deliver on new classes)."
                                  if softened and softened != 1.0 else "."))
    lines.append(f"The full record is in the file's metadata, key {METADATA_KEY} (for example "
                 "ogrinfo -so FILE LAYER, or gdalinfo FILE).")
    return "\n".join(lines)


def _part(record, key):
    """record[key] when it is a dict (records of other jobs use some keys for numbers)."""
    value = record.get(key)
    return value if isinstance(value, dict) else {}


def _validation(validation):
    if validation.get("accuracy") is None:
        return []
    per_class = "; ".join(f"{name} {part['accuracy']:.1f} % of {part.get('validated')}"
                          for name, part in _part(validation, "per_class").items()
                          if isinstance(part, dict) and part.get("accuracy") is not None)
    return [f"Accuracy of the examples, {validation.get('method', 'validated')}: "
            f"{validation['accuracy']:.1f} % of {validation.get('validated')}"
            + (f" ({per_class})." if per_class else ".")]
