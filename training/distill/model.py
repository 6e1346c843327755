"""Band adapters: a small conv net mapping another sensor's bands to the frozen RGB encoder's input.

The adapter is `select(x) + head(body(x))`: `select` is a trainable 1x1 band mix initialised to
the naive mapping (pan: the grey band to R, G and B; Sentinel-2: B4, B3, B2) and `head` starts
at zero, so an untrained adapter reproduces the naive baseline exactly and training can only
start from there. Inputs and outputs are normalised pixels ((x - 0.5) / 0.5 on both sides).
"""

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn.functional import normalize

from .data import S2_BANDS, S2_RGB

NORM_MEAN, NORM_STD = 0.5, 0.5  # the teacher's mean/std, used for every sensor's bands too


@dataclass
class Sensor:
    """A band set an adapter is made for: names of its bands and the baseline band for R, G, B."""

    name: str
    bands: tuple
    baseline: tuple  # index of the band feeding R, G and B in the naive mapping
    description: str = ""
    naive_first_bands: tuple = field(default=())  # what a plugin without a mapping would feed
    # metres a pixel the adapter was trained at, when not the bundle's (None: the bundle's)
    gsd_m: float = None


SENSORS = {
    "pan": Sensor("pan", ("pan",), (0, 0, 0),
                  "Panchromatic (1 band): band adapter distilled into the RGB encoder on "
                  "luminance/RGB pairs of RSICD-on-AID train images"),
    "s2": Sensor("s2", S2_BANDS, S2_RGB,
                 "Sentinel-2 L2A, 12 bands (B1-B9, B8A, B11, B12; no B10): band adapter "
                 "distilled into the RGB encoder on 16 SatCLIP patches (B4/B3/B2 as teacher RGB)",
                 naive_first_bands=(0, 1, 2), gsd_m=10.0),
}


def sensor(name):
    """The `Sensor` called `name`, or a ValueError listing the known ones."""
    if name not in SENSORS:
        raise ValueError(f"unknown sensor {name!r}: choose one of {', '.join(SENSORS)}")
    return SENSORS[name]


class ResidualBlock(nn.Module):
    """conv3x3 - ReLU - conv3x3 with a skip connection, at full resolution."""

    def __init__(self, width):
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)

    def forward(self, x):
        return torch.relu(x + self.conv2(torch.relu(self.conv1(x))))


class BandAdapter(nn.Module):
    """Normalised sensor bands (B, n, H, W) -> normalised RGB for the teacher (B, 3, H, W).

    Args:
        in_bands: bands of the sensor.
        width: channels of the convolutional correction (16 keeps it at ~1/6 of the teacher's
            CPU time at 128 px; 32 costs as much as the teacher).
        blocks: residual blocks of the correction.

    With width 0 the adapter is only the linear band mix `select`.
    """

    def __init__(self, in_bands, width=16, blocks=2):
        super().__init__()
        self.in_bands, self.width, self.blocks_count = int(in_bands), int(width), int(blocks)
        self.select = nn.Conv2d(in_bands, 3, 1)
        self.stem = self.blocks = self.head = None  # width 0: the linear band mix alone
        if self.width:
            self.stem = nn.Conv2d(in_bands, width, 3, padding=1)
            self.blocks = nn.Sequential(*[ResidualBlock(width) for _ in range(blocks)])
            self.head = nn.Conv2d(width, 3, 1)

    def forward(self, x):
        if self.head is None:
            return self.select(x)
        return self.select(x) + self.head(self.blocks(torch.relu(self.stem(x))))

    def config(self):
        """Constructor arguments, for saving beside the weights."""
        return {"in_bands": self.in_bands, "width": self.width, "blocks": self.blocks_count}


def baseline_matrix(rgb_bands, in_bands):
    """(3, in_bands) one-hot rows: output channel c copies band `rgb_bands[c]`."""
    matrix = torch.zeros(3, in_bands)
    for channel, band in enumerate(rgb_bands):
        matrix[channel, band] = 1.0
    return matrix


def make_adapter(sensor_name, width=16, blocks=2, rgb_bands=None):
    """A `BandAdapter` for a sensor, initialised to reproduce the naive mapping exactly."""
    spec = sensor(sensor_name)
    adapter = BandAdapter(len(spec.bands), width, blocks)
    init_as_baseline(adapter, spec.baseline if rgb_bands is None else rgb_bands)
    return adapter


@torch.no_grad()
def init_as_baseline(adapter, rgb_bands):
    """Set `select` to copy `rgb_bands` into R, G, B and zero the correction's output."""
    adapter.select.weight.copy_(baseline_matrix(rgb_bands, adapter.in_bands)[..., None, None])
    adapter.select.bias.zero_()
    if adapter.head is not None:
        adapter.head.weight.zero_()
        adapter.head.bias.zero_()
    return adapter


def normalise(pixels):
    """[0, 1] pixels -> the encoders' normalised input."""
    return (pixels - NORM_MEAN) / NORM_STD


class Student(nn.Module):
    """Adapter in front of a frozen teacher image tower (anything with `encode_image_dense`)."""

    def __init__(self, adapter, teacher):
        super().__init__()
        self.adapter = adapter
        self.teacher = teacher
        for param in teacher.parameters():
            param.requires_grad_(False)
        teacher.eval()

    def train(self, mode=True):
        """Only the adapter trains: the teacher keeps its BatchNorm statistics (eval mode)."""
        super().train(mode)
        self.teacher.eval()
        return self

    def forward(self, normalised_bands):
        """(embeddings (B, D), dense (B, D, h, w)) of normalised sensor bands."""
        return self.teacher.encode_image_dense(self.adapter(normalised_bands))


def cosines(student_out, teacher_out):
    """(per-image embedding cosine (B,), per-image mean cosine of the dense maps (B,))."""
    embeds = (normalize(student_out[0], dim=-1) * normalize(teacher_out[0], dim=-1)).sum(-1)
    dense = (normalize(student_out[1], dim=1) * normalize(teacher_out[1], dim=1)).sum(1)
    return embeds, dense.flatten(1).mean(1)


def distill_loss(student_out, teacher_out, dense_weight=0.5):
    """(loss, embedding cosine, dense cosine): 1 - cos on embeddings + weight x (1 - dense cos)."""
    embeds, dense = cosines(student_out, teacher_out)
    loss = (1 - embeds).mean() + dense_weight * (1 - dense).mean()
    return loss, embeds.mean(), dense.mean()
