"""What identifies a result: the fingerprint of a model's embeddings, the provenance record."""


def model_fingerprint(model, encoder=None):
    """What identifies a model's image embeddings: its id, the image encoder's name and the
    size and time of its files (encoder network, band adapter and embedding map)."""
    spec = (encoder or model.image).spec
    record = {"id": model.bundle.id, "encoder": spec.name}
    for key, name in (("image", spec.file), ("adapter", spec.adapter),
                      ("embedding_map", spec.embedding_map)):
        if name:
            stat = model.bundle.path(name).stat()
            record[f"{key}_size"], record[f"{key}_mtime"] = stat.st_size, stat.st_mtime
    return record


def provenance(model, tiled, **parameters):
    """The record every output carries: model, raster, tiling, scaling and job parameters."""
    return {"model_id": model.bundle.id, "image_encoder": tiled.encoder.spec.name,
            "raster": tiled.source.fingerprint(),
            "tiling": {**tiled.settings.describe(), "tile_px": tiled.tile_px,
                       "overlap_px": tiled.overlap_px},
            "scale": tiled.scale.record() if tiled.scale is not None else None,
            "scaling": tiled.source.scaling, "parameters": parameters}
