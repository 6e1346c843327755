"""Add a distilled band adapter to a model bundle: ONNX export, chain parity, `sensors` entry.

    python -m training distill-export --run runs/distill-pan --bundle runs/distill-bundle \
        [--init-from models/terralens-effnet-minilm-v1] [--teacher runs/cpu-v1/best.safetensors]

Writes `adapter_<sensor>.onnx` (fp32, dynamic batch and size) into the bundle, checks that
adapter.onnx -> image.onnx reproduces the torch student (adapter + teacher; cosine >= 0.999),
appends (or replaces) the sensor's `ImageSpec` in `sensors` and records the distillation report
under `provenance["sensors"][<sensor>]`.
"""

import argparse
import json
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from terralens.plugin.core.atomic import atomic_path
from terralens.plugin.core.bundle import (
    SCHEMA_VERSION,
    check_image_io,
    load_bundle,
    save_bundle,
)

from ..export import parity
from ..export.onnx_export import export_onnx
from .model import BandAdapter, Student, normalise, sensor

ADAPTER_OUTPUT = "adapted_pixels"
INPUT_NAME = "pixel_values"
N_PARITY = 8


def adapter_file_name(sensor_name):
    return f"adapter_{sensor_name}.onnx"


def load_adapter(run_dir):
    """(BandAdapter with trained weights, adapter.json info) of a distillation run."""
    from safetensors.torch import load_file
    run_dir = Path(run_dir)
    info_path = run_dir / "adapter.json"
    if not info_path.is_file():
        raise FileNotFoundError(f"{info_path} not found: train one with "
                                "`python -m training distill --sensor pan|s2`")
    info = json.loads(info_path.read_text(encoding="utf-8"))
    adapter = BandAdapter(**info["adapter"])
    adapter.load_state_dict(load_file(str(run_dir / "adapter.safetensors")))
    return adapter.eval(), info


def export_adapter_onnx(adapter, target):
    """Export the adapter: `pixel_values` (B, n, H, W) -> `adapted_pixels` (B, 3, H, W), fp32."""
    axes = {name: {0: "batch", 2: "height", 3: "width"} for name in (INPUT_NAME, ADAPTER_OUTPUT)}
    example = torch.zeros(1, adapter.in_bands, 64, 64)
    return export_onnx(adapter, (example,), [INPUT_NAME], [ADAPTER_OUTPUT], axes, target)


def parity_pixels(sensor_name, size, data_dir=None, count=N_PARITY):
    """Real sensor pixels in [0, 1] for the parity check: (count, bands, size, size)."""
    from .data import S2_FOLDER, pan_from_rgb, read_s2_patch
    if sensor_name == "pan":
        rgb = parity.parity_images(size, data_dir, count)
        return pan_from_rgb((rgb * 255).round().astype(np.uint8).transpose(0, 2, 3, 1))
    root = Path(data_dir or parity.default_data_dir()) / S2_FOLDER
    paths = sorted(root.glob("patch_*.tif"))[:count]
    if not paths:
        raise FileNotFoundError(f"no Sentinel-2 patches in {root} for the parity check")
    return np.stack([read_s2_patch(path)[:, :size, :size] for path in paths])


def chain_parity(adapter_path, image_path, student, pixels, image_spec,
                 threshold=parity.THRESHOLDS["fp32"]):
    """Cosine figures of adapter.onnx -> image.onnx against the torch `student` on `pixels`.

    `image_spec` (the bundle's main `ImageSpec`) names image.onnx's input and outputs.
    """
    from terralens.plugin.core.onnx_session import open_session
    normalised = normalise(np.asarray(pixels, np.float32))
    adapted = open_session(adapter_path).run([ADAPTER_OUTPUT], {INPUT_NAME: normalised})[0]
    embeds, dense = open_session(image_path).run(
        [image_spec.embedding_output, image_spec.dense_output], {image_spec.input_name: adapted})
    with torch.no_grad():
        ref_embeds, ref_dense = student(torch.from_numpy(normalised))
    return {"image_embeds": dict(parity.cosine_figures(ref_embeds.numpy(), embeds),
                                 threshold=threshold),
            "dense_features": dict(parity.cosine_figures(ref_dense.numpy(), dense),
                                   threshold=threshold)}


def sensor_spec(bundle, sensor_name, adapter_file, description=""):
    """The `ImageSpec` of a sensor: the main encoder's, with the sensor's bands and adapter."""
    spec = sensor(sensor_name)
    bands = len(spec.bands)
    return replace(bundle.image, name=spec.name, description=description or spec.description,
                   bands=list(spec.bands), mean=[0.5] * bands, std=[0.5] * bands,
                   adapter=adapter_file, adapter_output=ADAPTER_OUTPUT, input_name=INPUT_NAME,
                   gsd_m=spec.gsd_m)


def add_sensor(bundle_dir, sensor_name, adapter_onnx, record):
    """Copy `adapter_onnx` into the bundle, add the sensor to `sensors`, record it; save.

    Replaces an earlier encoder of the same name. Returns the saved `Bundle`.
    """
    bundle = load_bundle(bundle_dir)
    name = adapter_file_name(sensor_name)
    if Path(adapter_onnx).resolve() != bundle.path(name).resolve():
        with atomic_path(bundle.path(name)) as tmp:
            shutil.copyfile(adapter_onnx, tmp)
            tmp.chmod(0o644)
    spec = sensor_spec(bundle, sensor_name, name)
    check_sensor_files(bundle, spec)
    bundle.sensors = [s for s in bundle.sensors if s.name != spec.name] + [spec]
    bundle.provenance.setdefault("sensors", {})[spec.name] = record
    bundle.schema_version = SCHEMA_VERSION
    save_bundle(bundle, bundle_dir)
    return load_bundle(bundle_dir)


def check_sensor_files(bundle, spec):
    """Raise a BundleError when the adapter and image.onnx do not fit the sensor's spec."""
    from terralens.plugin.core.onnx_session import open_session, session_io
    check_image_io(bundle, spec, session_io(open_session(bundle.path(spec.file))),
                   session_io(open_session(bundle.path(spec.adapter))))


def provenance_record(info, figures, run_dir):
    """What bundle.json keeps of a distillation run: data, training, held-out report, parity."""
    return {"method": "band adapter distilled into the frozen RGB image encoder (1 - cosine on "
                      "pooled and dense outputs); training/distill/distill.py",
            "run": str(run_dir), "teacher": info.get("teacher"), "adapter": info.get("adapter"),
            "parameters": info.get("parameters"), "data": info.get("data"),
            "training": info.get("training"), "heldout": info.get("heldout"),
            "parity": figures}


def export_sensor(run_dir, bundle_dir, teacher=None, data_dir=None):
    """Export a run's adapter into `bundle_dir` after the chain parity check; returns the Bundle."""
    from ..export.export import load_terralens
    adapter, info = load_adapter(run_dir)
    name = info["sensor"]
    bundle = load_bundle(bundle_dir)
    model, _, _ = load_terralens(teacher or info["teacher"])
    student = Student(adapter, model).eval()
    pixels = parity_pixels(name, bundle.image.size, data_dir)
    with atomic_path(bundle.path(adapter_file_name(name))) as tmp:
        export_adapter_onnx(adapter, tmp)
        figures = chain_parity(tmp, bundle.path(bundle.image.file), student, pixels,
                               bundle.image)
        tmp.chmod(0o644)  # mkstemp makes files private; a bundle is read by other users
        print(f"parity of {adapter_file_name(name)} -> {bundle.image.file} "
              f"({len(pixels)} images):\n" + parity.format_figures(figures))
        parity.enforce(figures)
        figures["images"] = len(pixels)
    return add_sensor(bundle_dir, name, bundle.path(adapter_file_name(name)),
                      provenance_record(info, figures, run_dir))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m training distill-export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True,
                        help="a `python -m training distill` run folder")
    parser.add_argument("--bundle", type=Path, required=True, help="bundle folder to extend")
    parser.add_argument("--init-from", type=Path,
                        help="copy this bundle folder to --bundle first (when --bundle is absent)")
    parser.add_argument("--teacher", type=Path, help="teacher checkpoint (default: the run's)")
    parser.add_argument("--parity-data", type=Path, help="real data folder (../shared/data)")
    return parser.parse_args(argv)


def main(argv=None):
    """Run the export; 0 on success, 1 when it or its parity check failed."""
    args = parse_args(argv)
    if args.init_from and not args.bundle.exists():
        shutil.copytree(args.init_from, args.bundle)
    try:
        bundle = export_sensor(args.run, args.bundle, args.teacher, args.parity_data)
    except (parity.ParityError, ValueError, FileNotFoundError) as err:
        print(f"export failed: {err}", file=sys.stderr)
        return 1
    print(f"{args.bundle}: image encoders " + ", ".join(s.name for s in bundle.image_specs))
    return 0
