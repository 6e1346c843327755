"""Geotagged image embeddings for the location encoder: every tile of the geotagged scenes we have.

Runs in the QGIS venv (GDAL + onnxruntime, no torch): the scenes go through the plugin's own
pipeline (`pipeline.index_raster`), so the embeddings are exactly what the plugin computes and
each tile's place comes from its footprint. Writes one `.npz` with `embeddings` (N, D),
`lonlat` (N, 2), `scene` (N,) and the scene paths.

    .venv/bin/python -m training location-points --out runs/location/points.npz
"""

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from terralens.plugin.core import location, pipeline
from terralens.plugin.core.atomic import atomic_path
from terralens.plugin.core.encoders import load_model
from terralens.plugin.core.labels import label_embeddings, label_probabilities
from terralens.plugin.core.registry import default_bundle_dir
from terralens.plugin.core.tiled_raster import TileSettings

from ..evaluate.data import DEFAULT_DATA_ROOT

# Sentinel-2 patches: RGB from B4/B3/B2, tiles of 64 native 10 m pixels overlapping by half
# (a 256-pixel patch gives 49 places 320 m apart); the two aerial scenes at the bundle's tiling.
S2_SETTINGS = TileSettings(tile_size=64, gsd_m=0.0, overlap=0.5, bands="4,3,2", encoder="rgb")
SCENE_SETTINGS = TileSettings(encoder="rgb")


def geotagged_scenes(data_root):
    """(path, settings) of every geotagged raster in the shared data."""
    scenes = Path(data_root) / "scenes"
    s2 = sorted((scenes / "satclip_s2").glob("patch_*.tif"))
    aerial = [scenes / "spacenet_atlanta_pan.tif", scenes / "ortho_drone_small.tif"]
    return [(path, S2_SETTINGS) for path in s2] + [(path, SCENE_SETTINGS) for path in aerial]


def scene_points(model, path, settings, cache_dir):
    """(embeddings, lon/lat) of every tile of one raster, as the plugin embeds them."""
    index, _, _ = pipeline.index_raster(path, model, settings, cache_dir=cache_dir)
    centres = location.window_centres(index.windows, index.geotransform)
    return index.embeddings.astype(np.float32), location.to_lonlat(centres, index.crs_wkt)


def collect(bundle_dir, data_root, out):
    """Embed every tile of the geotagged scenes and write the points file; returns a summary."""
    model = load_model(bundle_dir)
    embeddings, lonlat, scene, names = [], [], [], []
    with tempfile.TemporaryDirectory() as cache:
        for number, (path, settings) in enumerate(geotagged_scenes(data_root)):
            vectors, places = scene_points(model, path, settings, cache)
            embeddings.append(vectors)
            lonlat.append(places)
            scene += [number] * len(vectors)
            names.append(Path(path).name)
    with atomic_path(out) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, embeddings=np.concatenate(embeddings),
                     lonlat=np.concatenate(lonlat), scene=np.asarray(scene, np.int32),
                     scene_names=np.asarray(names), model_id=model.bundle.id)
    return {"points": len(scene), "scenes": len(names), "model": model.bundle.id,
            "out": str(out)}


LAND_COVER = ["forest", "farmland", "grassland", "bare land", "desert", "snow and ice",
              "water", "city", "wetland", "mountain"]


def prior_effect(bundle_dir, data_root, weight, labels=LAND_COVER):
    """Per scene, the share of tiles whose best land-cover label changes with the prior.

    There is no land-cover truth for these scenes, so this shows how much the prior moves
    labels, not whether it moves them the right way.
    """
    model = load_model(bundle_dir)
    vectors = label_embeddings(model.text, labels, [model.bundle.prompt_template])
    changed = {}
    with tempfile.TemporaryDirectory() as cache:
        for path, settings in geotagged_scenes(data_root):
            embeddings, lonlat = scene_points(model, path, settings, cache)
            places = model.location.encode(lonlat)
            plain = label_probabilities(embeddings, vectors, model.bundle.logit_scale)
            prior = weight * location.prior_similarities(places, vectors)
            with_prior = label_probabilities(embeddings, vectors, model.bundle.logit_scale, prior)
            changed[Path(path).name] = {
                "tiles": len(embeddings),
                "changed": round(float((plain.argmax(1) != with_prior.argmax(1)).mean()), 3),
                "top_without": labels[int(np.bincount(plain.argmax(1)).argmax())],
                "top_with": labels[int(np.bincount(with_prior.argmax(1)).argmax())]}
    return {"weight": weight, "labels": labels, "scenes": changed}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m training location-points",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default=None, help="model bundle (default: the embedded one)")
    parser.add_argument("--data-root", default=str(DEFAULT_DATA_ROOT))
    parser.add_argument("--out", help="write the points file here")
    parser.add_argument("--effect", type=float, default=None, metavar="WEIGHT",
                        help="instead: how many land-cover labels the prior changes")
    args = parser.parse_args(argv)
    bundle = args.bundle or default_bundle_dir()
    if args.effect is not None:
        print(json.dumps(prior_effect(bundle, args.data_root, args.effect), indent=1))
        return
    if not args.out:
        parser.error("--out is required to collect points")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    print(json.dumps(collect(bundle, args.data_root, args.out)))
