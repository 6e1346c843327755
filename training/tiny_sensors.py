"""A tiny test bundle with other sensors and a location encoder: `tests/data/tiny-sensors`.

It is `tiny-wordpiece` (same image and text encoders) plus a 1-band "pan" and a 12-band "s2"
band adapter with fixed, readable weights and a random-weight location encoder, so that core
tests can check encoder choice, the adapter chain and the location prior exactly.
"""

import shutil

import torch
from torch import nn

from terralens.plugin.core.band_names import SENTINEL2_L2A
from terralens.plugin.core.bundle import ImageSpec, LocationSpec, load_bundle, save_bundle

from .losses import LocationEncoder

BUNDLE_ID = "tiny-sensors"
SEED = 4321
S2_BANDS = list(SENTINEL2_L2A)
# What the adapters compute, so tests can recompute it with numpy.
PAN_WEIGHTS = [1.0, 0.5, -1.0]  # output channel c = weight[c] * pan
S2_RGB_INDICES = [3, 2, 1]  # output channels = B4, B3, B2 (0-based band indices)


class FixedAdapter(nn.Module):
    """A 1x1 convolution with given weights: sensor bands to the main encoder's 3 channels."""

    def __init__(self, weights):
        super().__init__()
        weights = torch.as_tensor(weights, dtype=torch.float32)
        self.conv = nn.Conv2d(weights.shape[1], weights.shape[0], 1, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(weights[:, :, None, None])

    def forward(self, pixel_values):
        return self.conv(pixel_values)


def pan_weights():
    return [[w] for w in PAN_WEIGHTS]


def s2_weights():
    rows = []
    for index in S2_RGB_INDICES:
        row = [0.0] * len(S2_BANDS)
        row[index] = 1.0
        rows.append(row)
    return rows


def export_adapter(module, bands, target, export_onnx):
    example = torch.zeros(2, bands, 16, 16)
    export_onnx(module, (example,), ["pixel_values"], ["adapted_pixels"],
                {"pixel_values": {0: "batch", 2: "height", 3: "width"},
                 "adapted_pixels": {0: "batch", 2: "height", 3: "width"}}, target)


def export_location(module, target, export_onnx):
    example = torch.tensor([[0.0, 0.0], [10.0, 45.0]])
    export_onnx(module, (example,), ["lonlat"], ["location_embeds"],
                {"lonlat": {0: "batch"}, "location_embeds": {0: "batch"}}, target)


def build_sensor_bundle(out_dir, base_folder, dim, export_onnx):
    """Copy the tiny WordPiece bundle to `out_dir/tiny-sensors` and add sensors and location."""
    folder = out_dir / BUNDLE_ID
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("image.onnx", "text.onnx"):
        shutil.copy2(base_folder / name, folder / name)
    bundle = load_bundle(base_folder)
    bundle.id = BUNDLE_ID
    bundle.name = f"{BUNDLE_ID} (random weights, tests only)"
    bundle.provenance = {"recipe": "training/tiny_sensors.py", "weights": "fixed adapters, "
                         "random location encoder", "seed": SEED, "note": "for tests only"}
    main = bundle.image
    common = dict(file=main.file, size=main.size, dense_grid=main.dense_grid,
                  dense_stride=main.dense_stride)
    bundle.sensors = [
        ImageSpec(name="pan", bands=["pan"], mean=[0.5], std=[0.5], adapter="adapter_pan.onnx",
                  description="tests: channels = (1, 0.5, -1) x pan", **common),
        ImageSpec(name="s2", bands=list(S2_BANDS), mean=[0.5] * 12, std=[0.5] * 12,
                  adapter="adapter_s2.onnx", gsd_m=10.0,
                  description="tests: channels = B4, B3, B2", **common),
    ]
    bundle.location = LocationSpec(prior_weight=1.0, description="tests: random weights")
    export_adapter(FixedAdapter(pan_weights()).eval(), 1, folder / "adapter_pan.onnx",
                   export_onnx)
    export_adapter(FixedAdapter(s2_weights()).eval(), 12, folder / "adapter_s2.onnx",
                   export_onnx)
    torch.manual_seed(SEED)
    location = LocationEncoder(dim=dim, frequencies=4, sigmas=(1.0, 4.0), hidden=32, seed=SEED)
    export_location(location.eval(), folder / "location.onnx", export_onnx)
    save_bundle(bundle, folder)
    (folder / "MODEL_CARD.md").write_text(
        f"# {BUNDLE_ID}: random weights, for tests only\n\n{__doc__}\nRegenerate with "
        "`python -m training.make_tiny_bundles --out tests/data`.\n", encoding="utf-8")
    return folder
