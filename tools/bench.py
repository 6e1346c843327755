"""TerraLens benchmarks (`make bench`): encoder, pipeline and mask speed, query latency, memory,
transductive refinement cost.

Prints one JSON object. Figures depend on the machine; the JSON records which one.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BUNDLE = ROOT / "models" / "terralens-effnet-minilm-v1"
SHARED = Path(os.environ.get("TERRALENS_SHARED_DATA", ROOT.parent / "shared" / "data"))
SCENE = SHARED / "scenes" / "spacenet_atlanta_pan.tif"
LABELS = "forest, river, parking lot, buildings, road, bare soil, grass, water"
TRAIN_PYTHON = ROOT / ".venv-train" / "bin" / "python"
BYO_CACHE = ROOT / ".cache" / "bench-byo"
BYO_ARCHITECTURES = ("RN50", "ViT-B-32", "ViT-L-14")
# Runs in the training venv: a seeded random-init open_clip model saved as RemoteCLIP and
# GeoRSCLIP publish theirs (a plain state dict), exported like a user's checkpoint.
BYO_EXPORT = """
import sys, torch, open_clip
from training.export import export
name, out = sys.argv[1:3]
torch.manual_seed(0)
torch.save(open_clip.create_model(name, pretrained=None).state_dict(), out + ".pt")
code = export.main(["--open-clip-model", name, "--open-clip-checkpoint", out + ".pt",
                    "--out", out, "--id", "random-" + name.lower()])
sys.exit(code)
"""


def model_only(model, tiles, batch, views=1):
    """Image-encoder tiles/s on random tensors (no I/O), each tile in `views` rotations."""
    size = model.bundle.image.size
    pixels = np.random.default_rng(0).random((batch, 3, size, size), dtype=np.float32)
    model.image.encode_embeddings(pixels, views)  # warm-up
    start = time.perf_counter()
    for _ in range(max(1, tiles // batch)):
        model.image.encode_embeddings(pixels, views)
    return max(1, tiles // batch) * batch / (time.perf_counter() - start)


def timed_rate(model, batch, seconds):
    """Image-encoder tiles/s on random tensors: whole batches for at least `seconds`."""
    size = model.bundle.image.size
    pixels = np.random.default_rng(0).random((batch, 3, size, size), dtype=np.float32)
    model.image.encode_embeddings(pixels)  # warm-up
    start, batches = time.perf_counter(), 0
    while batches == 0 or time.perf_counter() - start < seconds:
        model.image.encode_embeddings(pixels)
        batches += 1
    return batches * batch / (time.perf_counter() - start)


def byo_bundle(name, cache=BYO_CACHE):
    """The bundle folder of a random-init open_clip `name`, exported into `cache` once."""
    out = Path(cache) / name
    if not (out / "bundle.json").is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        print(f"bench: exporting a random-init {name} into {out} (once, minutes)",
              file=sys.stderr, flush=True)
        try:
            subprocess.run([str(TRAIN_PYTHON), "-c", BYO_EXPORT, name, str(out)], cwd=ROOT,
                           check=True, stdout=sys.stderr)
        finally:
            Path(str(out) + ".pt").unlink(missing_ok=True)
    return out


def byo_models(default, batch, seconds=20.0):
    """CPU tiles/s of open_clip architectures users bring, beside the default model's.

    Args:
        default: {"bundle", "image_size", "tiles_per_s"} of the default model.
        batch: tiles a batch.
        seconds: least time measured per model.
    """
    from terralens.plugin.core.encoders import load_model

    missing = [name for name in BYO_ARCHITECTURES
               if not (BYO_CACHE / name / "bundle.json").is_file()]
    if missing and not TRAIN_PYTHON.is_file():
        return {"skipped": f"{TRAIN_PYTHON} not found: run `make setup` so that the open_clip "
                           f"bundles measured here ({', '.join(missing)}) can be exported"}
    rates = {"default": default}
    for name in BYO_ARCHITECTURES:
        try:
            model = load_model(byo_bundle(name))
        except subprocess.CalledProcessError as err:
            rates[name] = {"error": f"export failed (exit {err.returncode}); see stderr"}
            continue
        rate = timed_rate(model, batch, seconds)
        rates[name] = {"image_size": model.bundle.image.size, "tiles_per_s": round(rate, 2),
                       "times_slower_than_default": round(default["tiles_per_s"] / rate, 1)}
        del model
    return dict(rates, note="random-init weights (speed real, accuracy meaningless), "
                            f"image encoder only, one view, batch {batch}, cached in "
                            f"{BYO_CACHE}")


def mosaic_vrt(source, side, out_dir):
    """A VRT of `side` x `side` pixels that repeats a real scene on a grid (real content)."""
    from osgeo import gdal

    src = gdal.Open(str(source))
    w, h, gt = src.RasterXSize, src.RasterYSize, src.GetGeoTransform()
    data_type = gdal.GetDataTypeName(src.GetRasterBand(1).DataType)
    bands = []
    for band in range(1, src.RasterCount + 1):
        sources = "".join(
            f'<SimpleSource><SourceFilename relativeToVRT="0">{source}</SourceFilename>'
            f"<SourceBand>{band}</SourceBand>"
            f'<SrcRect xOff="0" yOff="0" xSize="{w}" ySize="{h}"/>'
            f'<DstRect xOff="{x}" yOff="{y}" xSize="{w}" ySize="{h}"/></SimpleSource>'
            for y in range(0, side, h) for x in range(0, side, w))
        bands.append(f'<VRTRasterBand dataType="{data_type}" band="{band}">{sources}'
                     "</VRTRasterBand>")
    vrt = Path(out_dir) / f"mosaic_{side}.vrt"
    vrt.write_text(f'<VRTDataset rasterXSize="{side}" rasterYSize="{side}">'
                   f"<SRS>{_escape(src.GetProjection())}</SRS>"
                   f"<GeoTransform>{', '.join(repr(v) for v in gt)}</GeoTransform>"
                   + "".join(bands) + "</VRTDataset>")
    return str(vrt)


def _escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def end_to_end(model, raster, batch, out_dir, refine=True, views=None):
    """Labelling tiles/s on a real raster, outputs written, everything included (views: the
    default rotations of TileSettings when None)."""
    from terralens.plugin.core import pipeline
    from terralens.plugin.core.tiled_raster import DEFAULT_VIEWS, TileSettings

    start = time.perf_counter()
    settings = TileSettings(batch_size=batch, views=views or DEFAULT_VIEWS)
    summary = pipeline.label_raster(raster, model, LABELS, Path(out_dir) / "labels.gpkg",
                                    settings, refine=refine)
    seconds = time.perf_counter() - start
    refined = (summary["refinement"] or {}).get("seconds", 0.0)
    return summary["tiles_encoded"] / seconds, summary["tiles_encoded"], seconds, refined


def end_to_end_report(model, batch, report):
    """Labelling a real mosaic end to end, against the model alone at the same rotations."""
    with tempfile.TemporaryDirectory() as out_dir:
        raster = mosaic_vrt(SCENE, 8100, out_dir)
        rate, tiles, seconds, refined = end_to_end(model, raster, batch, out_dir)
        plain_rate = end_to_end(model, raster, batch, out_dir, refine=False)[0]
        one_view_rate = end_to_end(model, raster, batch, out_dir, views=1)[0]
    model_rate, one_view_model = (report["model_only_tiles_per_s"],
                                  report["model_only_tiles_per_s_one_view"])
    return {"raster": "SpaceNet Atlanta pan repeated 9x9 (8100 px), labels with 8 labels, "
                      f"refined (the default), {report['views']} rotations a tile (the "
                      "default), GeoPackage written",
            "tiles": tiles, "tiles_per_s": round(rate, 1),
            "efficiency": round(rate / model_rate, 3),
            "efficiency_without_refinement": round(plain_rate / model_rate, 3),
            "tiles_per_s_one_view": round(one_view_rate, 1),
            "efficiency_one_view": round(one_view_rate / one_view_model, 3),
            "refinement_seconds": round(refined, 2),
            "refinement_share_of_run": round(refined / seconds, 4)}


def mask_rate(model, raster, batch, out_dir, **options):
    """Prompt-mask raster pixels/s (`building`, polygons written), and tiles encoded."""
    from osgeo import gdal

    from terralens.plugin.core import pipeline
    from terralens.plugin.core.tiled_raster import TileSettings

    start = time.perf_counter()
    summary = pipeline.prompt_mask(raster, model, "building", Path(out_dir) / "mask.gpkg",
                                   TileSettings(batch_size=batch), **options)
    seconds = time.perf_counter() - start
    dataset = gdal.Open(str(raster))
    pixels = dataset.RasterXSize * dataset.RasterYSize
    return {"pixels_per_s": round(pixels / seconds), "seconds": round(seconds, 2),
            "tiles": summary["tiles_encoded"], "pixels": pixels}


def masks(model, batch, side=2700):
    """Mask pixels/s of the default (dense) method and of the one before it (tiles, 0.5)."""
    with tempfile.TemporaryDirectory() as out_dir:
        raster = mosaic_vrt(SCENE, side, out_dir)
        return {"raster": f"SpaceNet Atlanta pan repeated to {side} px, prompt building",
                "dense": mask_rate(model, raster, batch, out_dir),
                "tiles_before": mask_rate(model, raster, batch, out_dir, method="tiles",
                                          threshold=0.5)}


def query_latency(dim, counts, queries=30):
    """Median and 95th-percentile search latency (ms) and recall@20 against exact search."""
    from terralens.plugin.core.index import build_index

    rng = np.random.default_rng(0)
    results = {}
    for count in counts:
        # clustered unit vectors, like real tile embeddings (scenes repeat)
        centres = rng.standard_normal((max(8, count // 200), dim)).astype(np.float32)
        points = centres[rng.integers(0, len(centres), count)]
        points += 0.6 * rng.standard_normal((count, dim)).astype(np.float32) / np.sqrt(dim) * 4
        points /= np.linalg.norm(points, axis=1, keepdims=True)
        windows = np.zeros((count, 4), np.int32)
        start = time.perf_counter()
        index = build_index(points.astype(np.float16), windows, (0, 1, 0, 0, 0, -1), "", {})
        build_s = time.perf_counter() - start
        del points
        probes = [index.embeddings[i].astype(np.float32) for i in rng.integers(0, count, queries)]
        times, recall = [], []
        for query in probes:
            start = time.perf_counter()
            tiles, _ = index.search(query, k=20)
            times.append((time.perf_counter() - start) * 1000)
            exact, _ = index.search(query, k=20, exact=True)
            recall.append(len(set(tiles) & set(exact)) / 20)
        results[str(count)] = {"median_ms": round(float(np.median(times)), 2),
                               "p95_ms": round(float(np.percentile(times, 95)), 2),
                               "recall_at_20_vs_exact": round(float(np.mean(recall)), 3),
                               "clustered": index.clusters is not None,
                               "build_s": round(build_s, 1)}
        del index
    return results


def prior_query_latency(model, counts, queries=5):
    """Search latency (ms, query text encoding included) with and without the location prior.

    The prior scores every tile exactly and runs the location encoder on at most 64 x 64 places
    a raster, so it costs more than a plain (clustered) search; this says how much.
    """
    from osgeo import osr

    from terralens.plugin.core import pipeline
    from terralens.plugin.core.index import build_index

    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    rng = np.random.default_rng(1)
    results = {}
    for count in counts:
        side = int(np.ceil(np.sqrt(count)))
        cols, rows = np.meshgrid(np.arange(side) * 128, np.arange(side) * 128)
        windows = np.stack([cols.ravel(), rows.ravel(), np.full(side * side, 128),
                            np.full(side * side, 128)], axis=1)[:count].astype(np.int32)
        points = rng.standard_normal((count, model.bundle.embedding_dim)).astype(np.float32)
        points /= np.linalg.norm(points, axis=1, keepdims=True)
        index = build_index(points.astype(np.float16), windows,
                            (400000.0, 0.6, 0.0, 5000000.0, 0.0, -0.6), srs.ExportToWkt(), {})
        del points
        timings = {}
        for name, weight in (("plain", 0.0), ("location_prior", 0.5)):
            times = []
            for query in ["forest", "harbour", "farmland", "parking lot", "river"][:queries]:
                start = time.perf_counter()
                pipeline.search([index], model, query, k=20, location_weight=weight)
                times.append((time.perf_counter() - start) * 1000)
            timings[f"{name}_median_ms"] = round(float(np.median(times)), 1)
        results[str(count)] = timings
        del index
    return results


def clustered_embeddings(count, dim, labels, seed=0):
    """Float16 unit embeddings around `labels` centres (tiles of a scene repeat), with label
    texts that point only roughly at the centres; made in blocks so no float32 copy is whole.

    Returns:
        (embeddings float16, inductive probabilities float32, true label of every tile)
    """
    from terralens.plugin.core.labels import label_probabilities

    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((labels, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    texts = centres + 3.0 * rng.standard_normal((labels, dim)).astype(np.float32) / dim ** .5
    texts /= np.linalg.norm(texts, axis=1, keepdims=True)
    truth = rng.integers(0, labels, count)
    embeddings = np.empty((count, dim), np.float16)
    probabilities = np.empty((count, labels), np.float32)
    for first in range(0, count, 65536):
        part = truth[first:first + 65536]
        noise = rng.standard_normal((len(part), dim)).astype(np.float32)
        block = centres[part] + 1.5 * noise / dim ** .5
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        embeddings[first:first + len(part)] = block
        probabilities[first:first + len(part)] = label_probabilities(block, texts, 15.0)
    return embeddings, probabilities, truth


def refinement_run(count, dim, labels):
    """Refine `count` synthetic tiles in this process: wall and CPU seconds (all threads; on a
    shared machine the wall time also counts waiting), accuracy, and the memory refinement
    needed on top of its inputs (peak resident set, Linux)."""
    from terralens.plugin.core.transductive import refine

    embeddings, probabilities, truth = clustered_embeddings(count, dim, labels)
    before = _resident_kb()["VmRSS"]
    _reset_peak()
    start, cpu = time.perf_counter(), time.process_time()
    result = refine(embeddings, probabilities)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = _resident_kb()["VmHWM"]
    return {"tiles": count, "dim": dim, "labels": labels, "seconds": round(seconds, 2),
            "cpu_seconds": round(cpu, 2),
            "exact_graph": result.exact_graph, "changed_tiles": result.changed,
            "inductive_accuracy": round(float(np.mean(probabilities.argmax(1) == truth)), 3),
            "refined_accuracy": round(float(np.mean(result.probabilities.argmax(1) == truth)),
                                      3),
            "embeddings_mb": round(embeddings.nbytes / 2 ** 20, 1),
            "peak_extra_mb": round((peak - before) / 1024, 1)}


def _resident_kb():
    status = Path("/proc/self/status").read_text()
    return {key: int(status.split(f"{key}:")[1].split()[0]) for key in ("VmRSS", "VmHWM")}


def _reset_peak():
    """Restart the peak (VmHWM) at the current resident size (Linux 4.0 and later)."""
    Path("/proc/self/clear_refs").write_text("5")


def refinement_cost(counts, dim, labels=21):
    """Transductive refinement of synthetic clustered tiles, each size in a fresh process."""
    results = {}
    for count in counts:
        code = "\n".join([
            "import json, sys", f"sys.path.insert(0, {str(ROOT)!r})",
            "from tools.bench import refinement_run",
            f"print(json.dumps(refinement_run({count}, {dim}, {labels})))"])
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              check=True)
        results[str(count)] = json.loads(done.stdout)
    return results


def peak_memory_child(bundle, side, batch):
    """Label a `side` x `side` raster in a fresh process; its own peak resident memory in MB.

    The child reads its peak (VmHWM) itself: a parent's getrusage(RUSAGE_CHILDREN) would count
    the memory the parent had when it started the child.
    """
    code = "\n".join([
        "import sys, tempfile",
        f"sys.path.insert(0, {str(ROOT)!r})",
        "from tools.bench import mosaic_vrt, end_to_end",
        "from terralens.plugin.core.encoders import load_model",
        f"d = tempfile.mkdtemp(); m = load_model({str(bundle)!r})",
        f"r = end_to_end(m, mosaic_vrt({str(SCENE)!r}, {side}, d), {batch}, d)",
        "status = open('/proc/self/status').read()",
        "hwm = int(status.split('VmHWM:')[1].split()[0])",
        "print(r[1], r[2], hwm)"])
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    tiles, seconds, peak_kb = done.stdout.split()
    return {"raster_px": side, "tiles": int(tiles), "seconds": round(float(seconds), 1),
            "peak_rss_mb": round(int(peak_kb) / 1024, 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bundle", type=Path, default=None)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--tiles", type=int, default=1024)
    parser.add_argument("--big", type=int, default=20000, help="side of the peak-memory raster")
    parser.add_argument("--skip", default="",
                        help="comma list of: e2e,refine,mask,query,examples,memory,fewshot,byo,"
                             "square,scale")
    args = parser.parse_args()
    skip = set(args.skip.split(","))
    bundle = args.bundle or (DEFAULT_BUNDLE if (DEFAULT_BUNDLE / "text.onnx").is_file()
                             else ROOT / "tests" / "data" / "tiny-wordpiece")
    from terralens.plugin.core.encoders import load_model
    from terralens.plugin.core.tiled_raster import DEFAULT_VIEWS

    model = load_model(bundle)
    report = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                          "load_average_at_start": [round(v, 1) for v in os.getloadavg()]},
              "bundle": model.bundle.id, "image_size": model.bundle.image.size,
              "batch": args.batch}
    report["views"] = DEFAULT_VIEWS
    report["model_only_tiles_per_s"] = round(
        model_only(model, args.tiles, args.batch, DEFAULT_VIEWS), 1)
    report["model_only_tiles_per_s_one_view"] = round(model_only(model, args.tiles, args.batch), 1)
    if "e2e" not in skip:
        report["end_to_end"] = end_to_end_report(model, args.batch, report)
    if "refine" not in skip:
        report["refinement"] = refinement_cost([10_000, 100_000], model.bundle.embedding_dim)
    if "mask" not in skip:
        report["mask"] = masks(model, args.batch)
    if "memory" not in skip:
        report["peak_memory"] = peak_memory_child(bundle, args.big, args.batch)
    if "query" not in skip:
        report["query_latency"] = query_latency(model.bundle.embedding_dim,
                                                [10_000, 100_000, 1_000_000])
        if model.location is not None:
            report["query_latency_with_location_prior"] = prior_query_latency(
                model, [10_000, 1_000_000])
    if "examples" not in skip:
        sys.path.insert(0, str(ROOT))
        from tools.bench_examples import example_search_latency

        report["search_by_example_latency"] = example_search_latency(
            model, [10_000, 1_000_000])
    if "fewshot" not in skip:
        sys.path.insert(0, str(ROOT))
        from tools.bench_fewshot import report as fewshot_report

        report["label_from_examples"] = fewshot_report(model)
    if "byo" not in skip:
        default = {"bundle": model.bundle.id, "image_size": model.bundle.image.size,
                   "tiles_per_s": report["model_only_tiles_per_s_one_view"]}
        report["byo_models"] = byo_models(default, args.batch)
    if "square" not in skip:  # lon/lat rasters read as square ground pixels
        sys.path.insert(0, str(ROOT))
        from tools.bench_square_pixels import report as square_report

        report["square_pixels"] = square_report(model)
    if "scale" not in skip:  # accuracy of the automatic scale (tools/scale_bench.py)
        import scale_bench
        report["scale"] = scale_bench.run(["ucm", "rsscn7"])
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
