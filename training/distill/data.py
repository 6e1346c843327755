"""Co-registered pairs for band-adapter distillation: pan made from RGB, Sentinel-2 patches.

Every pair is (student bands, teacher RGB), both scaled to [0, 1] the way the plugin scales a
raster of that kind (`plugin/core/raster.py`): Byte RGB is divided by 255; 16-bit bands get a
per-band 2nd-98th percentile stretch over the whole raster, clipped to [0, 1].
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from terralens.plugin.core.band_names import SENTINEL2_L2A
from terralens.plugin.core.raster_scaling import PERCENTILES, stretch_from_sample

# SatCLIP's S2-100K patches: Sentinel-2 L2A, the 12 bands without the cirrus band B10. The order
# is not written in the files; their spectra fit it (vegetation: B4 < B3, red edge rising to
# B8/B8A, B11 > B12; snow: bright visible, dark B11/B12).
S2_BANDS = SENTINEL2_L2A
S2_RGB = (3, 2, 1)  # B4, B3, B2: the true-colour bands the teacher sees
S2_FOLDER = "scenes/satclip_s2"
LUMA = (0.299, 0.587, 0.114)  # Rec. 601 luminance: a panchromatic band made from RGB


class PairError(ValueError):
    """Pair data is missing or unusable; the message says what to change."""


def stretch_bands(raw):
    """(C, H, W) raw values -> float32 in [0, 1]: the plugin's per-band 2-98 % stretch."""
    raw = np.asarray(raw, np.float32)
    lows, highs = stretch_from_sample(raw, np.ones(raw.shape[1:], bool), PERCENTILES)
    lows = np.asarray(lows, np.float32).reshape(-1, 1, 1)
    highs = np.asarray(highs, np.float32).reshape(-1, 1, 1)
    return np.clip((raw - lows) / (highs - lows), 0.0, 1.0).astype(np.float32)


def pan_from_rgb(rgb_uint8):
    """(N, H, W, 3) uint8 RGB -> (N, 1, H, W) stretched luminance, as a 16-bit pan raster reads."""
    luma = np.tensordot(np.asarray(rgb_uint8, np.float32), np.asarray(LUMA, np.float32), axes=1)
    return np.stack([stretch_bands(image[None]) for image in luma])


def rgb_unit(rgb_uint8):
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float32 / 255: how the plugin reads a Byte RGB raster."""
    return np.asarray(rgb_uint8, np.float32).transpose(0, 3, 1, 2) / 255.0


def flip_rotate(arrays, rng):
    """The same random flips and 90-degree turn applied to each sample of every (N, C, H, W)."""
    out = [np.empty_like(array) for array in arrays]
    for i in range(len(arrays[0])):
        turns, flip = int(rng.integers(4)), bool(rng.integers(2))
        for source, target in zip(arrays, out):
            sample = np.rot90(source[i], turns, axes=(1, 2))
            target[i] = sample[:, :, ::-1] if flip else sample
    return out


@dataclass
class Pairs:
    """A fixed set of pairs: `student` (N, bands, S, S) and `teacher` (N, 3, S, S), in [0, 1]."""

    student: np.ndarray
    teacher: np.ndarray
    note: str = ""

    def __len__(self):
        return len(self.student)


class PanPairs:
    """Pan/RGB pairs from RGB images (uint8 (N, S, S, 3)): pan = stretched luminance."""

    bands = ("pan",)

    def __init__(self, rgb_uint8, train_index, heldout_index, source=""):
        self.rgb = rgb_uint8
        self.train_index = np.asarray(train_index)
        self.heldout_index = np.asarray(heldout_index)
        self.source = source

    def pairs(self, index):
        """The pairs of the images `index`, without augmentation."""
        rgb = self.rgb[np.asarray(index)]
        return Pairs(pan_from_rgb(rgb), rgb_unit(rgb))

    def sample(self, rng, count, augment=True):
        """A random training batch (student, teacher) of `count` pairs."""
        batch = self.pairs(rng.choice(self.train_index, size=count, replace=False))
        if augment:
            batch.student, batch.teacher = flip_rotate([batch.student, batch.teacher], rng)
        return batch

    def heldout(self):
        """Every held-out pair."""
        pairs = self.pairs(self.heldout_index)
        pairs.note = f"{len(pairs)} held-out images of the training pack (never trained on)"
        return pairs

    def describe(self):
        return {"source": self.source, "train_images": int(len(self.train_index)),
                "heldout_images": int(len(self.heldout_index)),
                "image_size": int(self.rgb.shape[1]),
                "pan": "Rec. 601 luminance of the RGB, per-image 2-98 % stretch"}


def load_pan_pairs(pack_path, heldout=256, seed=0, limit=None, threads=1):
    """Pan pairs from a training pack (RSICD-on-AID train images); `heldout` images kept apart."""
    from ..data.pack import PackDataset
    pack = PackDataset(pack_path, threads=threads, limit=limit)
    if len(pack) <= heldout + 8:
        raise PairError(f"the pack {pack_path} has {len(pack)} images; need more than "
                        f"{heldout + 8} to hold {heldout} out")
    order = np.random.default_rng(seed).permutation(len(pack))
    return PanPairs(pack.images, np.sort(order[heldout:]), np.sort(order[:heldout]),
                    source=f"{pack_path} ({pack.meta.get('source', '')})")


def read_s2_patch(path):
    """One 12-band Sentinel-2 patch, stretched per band over the whole patch: (12, H, W)."""
    import rasterio
    with rasterio.open(path) as dataset:
        raw = dataset.read()
    if raw.shape[0] != len(S2_BANDS):
        raise PairError(f"{path} has {raw.shape[0]} bands; a Sentinel-2 patch here has "
                        f"{len(S2_BANDS)} ({', '.join(S2_BANDS)})")
    return stretch_bands(raw)


class S2Pairs:
    """S2/RGB pairs: student = the 12 stretched bands, teacher = stretched B4, B3, B2."""

    bands = S2_BANDS

    def __init__(self, train, heldout, names=(), size=128, eval_stride=64):
        self.train, self.heldout_patches = train, heldout
        self.names = dict(names)
        self.size, self.eval_stride = int(size), int(eval_stride)

    @staticmethod
    def teacher_of(student):
        """The teacher's RGB of 12-band pixels: the same stretched values of B4, B3, B2."""
        return np.ascontiguousarray(student[:, list(S2_RGB)])

    def sample(self, rng, count, augment=True):
        """Random crops of the training patches, flipped and turned alike for both sides."""
        crops = []
        for _ in range(count):
            patch = self.train[int(rng.integers(len(self.train)))]
            top, left = (int(rng.integers(n - self.size + 1)) for n in patch.shape[1:])
            crops.append(patch[:, top:top + self.size, left:left + self.size])
        student = np.stack(crops)
        if augment:
            (student,) = flip_rotate([student], rng)
        return Pairs(student, self.teacher_of(student))

    def heldout(self):
        """Tiles on a grid (stride `eval_stride`) over every held-out patch."""
        tiles = []
        for patch in self.heldout_patches:
            for top in range(0, patch.shape[1] - self.size + 1, self.eval_stride):
                for left in range(0, patch.shape[2] - self.size + 1, self.eval_stride):
                    tiles.append(patch[:, top:top + self.size, left:left + self.size])
        student = np.stack(tiles)
        return Pairs(student, self.teacher_of(student),
                     note=f"{len(tiles)} tiles of {self.size} px, stride {self.eval_stride} "
                          f"(overlapping) from {len(self.heldout_patches)} held-out patches")

    def describe(self):
        return {"source": S2_FOLDER, "train_patches": self.names.get("train", []),
                "heldout_patches": self.names.get("heldout", []), "tile_size": self.size,
                "bands": list(S2_BANDS), "teacher_bands": [S2_BANDS[i] for i in S2_RGB],
                "scaling": "per band 2-98 % stretch over each whole 256 px patch"}


def load_s2_pairs(data_root, heldout=4, seed=0, size=128):
    """S2 pairs from the SatCLIP patches; `heldout` patches (seeded choice) kept apart."""
    paths = sorted((Path(data_root) / S2_FOLDER).glob("patch_*.tif"))
    if len(paths) <= heldout:
        raise PairError(f"found {len(paths)} Sentinel-2 patches in {Path(data_root) / S2_FOLDER};"
                        f" need more than {heldout}")
    chosen = set(np.random.default_rng(seed).permutation(len(paths))[:heldout].tolist())
    patches = [read_s2_patch(path) for path in paths]
    train = [p for i, p in enumerate(patches) if i not in chosen]
    held = [p for i, p in enumerate(patches) if i in chosen]
    names = {"train": [p.name for i, p in enumerate(paths) if i not in chosen],
             "heldout": [p.name for i, p in enumerate(paths) if i in chosen]}
    return S2Pairs(train, held, names, size=size)
