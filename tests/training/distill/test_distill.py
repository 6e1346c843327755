"""Band-adapter distillation: baseline initialisation, pairs, a few steps, ONNX export, bundles."""

import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from terralens.plugin.core.bundle import load_bundle
from terralens.plugin.core.encoders import ImageEncoder
from terralens.plugin.core.onnx_session import open_session
from training.distill import data as distill_data
from training.distill import distill
from training.distill import export as distill_export
from training.distill.model import Student, make_adapter, normalise

SIZE = 64


class TinyTeacher(nn.Module):
    """A small random conv net with the teacher's interface: (embeddings, dense map)."""

    def __init__(self, dim=16):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(),
                                      nn.Conv2d(8, dim, 3, stride=4, padding=1),
                                      nn.BatchNorm2d(dim))
        self.proj = nn.Linear(dim, dim)

    def encode_image_dense(self, images):
        dense = self.features(images)
        return self.proj(dense.mean(dim=(2, 3))), dense

    def forward(self, pixel_values):
        return self.encode_image_dense(pixel_values)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: the steps are tiny, and more threads only contend on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def teacher():
    torch.manual_seed(3)
    return TinyTeacher().eval()


@pytest.fixture(scope="module")
def aid_rgb(shared_data):
    """Eight real AID train images, 64 px, uint8 (N, H, W, 3)."""
    paths = sorted((shared_data / "aid" / "images").glob("*.webp"))[::1200][:8]
    images = []
    for path in paths:
        with Image.open(path) as image:
            images.append(np.asarray(image.convert("RGB").resize((SIZE, SIZE))))
    return np.stack(images)


@pytest.fixture(scope="module")
def s2_patch(shared_data):
    path = sorted((shared_data / distill_data.S2_FOLDER).glob("patch_*.tif"))[0]
    return distill_data.read_s2_patch(path)


def test_pan_adapter_starts_as_the_grey_band_repeated():
    x = torch.rand(2, 1, 20, 24) * 2 - 1
    with torch.no_grad():
        out = make_adapter("pan")(x)
    assert torch.equal(out, x.repeat(1, 3, 1, 1))


@pytest.mark.parametrize("width", [16, 0])
def test_s2_adapter_starts_as_b4_b3_b2(width):
    x = torch.rand(2, 12, 16, 16) * 2 - 1
    with torch.no_grad():
        out = make_adapter("s2", width=width)(x)
    assert torch.equal(out, x[:, [3, 2, 1]])


def test_s2_pairs_are_stretched_bands_and_their_true_colour(s2_patch):
    assert s2_patch.shape == (12, 256, 256) and s2_patch.dtype == np.float32
    assert 0.0 <= s2_patch.min() and s2_patch.max() <= 1.0
    # the stretch puts about 2 % of each band at 0 and 2 % at 1
    assert 0.005 < float((s2_patch[3] == 0).mean()) < 0.05
    pairs = distill_data.S2Pairs([s2_patch], [s2_patch], size=SIZE, eval_stride=96)
    batch = pairs.sample(np.random.default_rng(0), 3)
    assert batch.student.shape == (3, 12, SIZE, SIZE)
    assert np.array_equal(batch.teacher, batch.student[:, [3, 2, 1]])
    assert len(pairs.heldout()) == 9


def test_pan_is_the_stretched_luminance_and_augmentation_keeps_pairs_aligned(aid_rgb):
    pan = distill_data.pan_from_rgb(aid_rgb)
    assert pan.shape == (8, 1, SIZE, SIZE) and pan.min() == 0.0 and pan.max() == 1.0
    luma = aid_rgb.astype(np.float32) @ np.array(distill_data.LUMA, np.float32)
    low, high = np.percentile(luma[0], (2, 98))
    assert np.allclose(pan[0, 0], np.clip((luma[0] - low) / (high - low), 0, 1), atol=1e-5)
    rgb = distill_data.rgb_unit(aid_rgb)
    turned = distill_data.flip_rotate([rgb, rgb[:, :1].copy()], np.random.default_rng(1))
    assert np.array_equal(turned[0][:, :1], turned[1])
    assert not np.array_equal(turned[0], rgb)


def test_a_few_distillation_steps_bring_the_student_closer(teacher, aid_rgb):
    torch.manual_seed(0)
    pairs = distill_data.PanPairs(aid_rgb, np.arange(8), np.arange(4))
    student = Student(make_adapter("pan", width=8, blocks=1), teacher)

    def loss():  # the training loss (dense weight 0.5) on all eight pairs, unaugmented
        figures = distill.heldout_cosines(student, pairs.pairs(np.arange(8)))
        return 1 - figures["embed_cos_mean"] + 0.5 * (1 - figures["dense_cos_mean"])

    before = loss()
    history = distill.distill(student, pairs, steps=30, batch_size=4, lr=3e-2)
    assert len(history) == 30
    assert loss() < 0.8 * before
    # the teacher did not move: frozen weights, BatchNorm statistics kept
    assert not teacher.training and all(not p.requires_grad for p in teacher.parameters())


def test_adapter_onnx_matches_torch_alone_and_in_front_of_the_encoder(teacher, tmp_path):
    adapter = make_adapter("s2", width=8, blocks=1)
    with torch.no_grad():
        for param in adapter.parameters():
            param.add_(torch.randn_like(param) * 0.1)
    path = distill_export.export_adapter_onnx(adapter, tmp_path / "adapter_s2.onnx")
    x = normalise(torch.rand(2, 12, 48, 40))  # any size: H and W are dynamic
    onnx_out = open_session(path).run(["adapted_pixels"], {"pixel_values": x.numpy()})[0]
    with torch.no_grad():
        assert np.allclose(onnx_out, adapter(x).numpy(), atol=1e-5)
    image_path = tmp_path / "image.onnx"
    distill_export.export_onnx(teacher, (torch.zeros(1, 3, SIZE, SIZE),), ["pixel_values"],
                               ["image_embeds", "dense_features"], {"pixel_values": {0: "b"}},
                               image_path)
    spec = load_bundle(_tiny_copy(tmp_path)).image
    figures = distill_export.chain_parity(path, image_path, Student(adapter, teacher),
                                          np.random.rand(3, 12, SIZE, SIZE), spec)
    assert figures["image_embeds"]["min"] > 0.9999
    assert figures["dense_features"]["min"] > 0.9999


def _tiny_copy(tmp_path):
    from pathlib import Path
    source = Path(__file__).resolve().parents[2] / "data" / "tiny-wordpiece"
    target = tmp_path / "bundle"
    if not target.exists():
        shutil.copytree(source, target)
    return target


def test_add_sensor_writes_a_bundle_the_plugin_loads(tmp_path):
    folder = _tiny_copy(tmp_path)
    adapter = distill_export.export_adapter_onnx(make_adapter("pan", width=4, blocks=1),
                                                 tmp_path / "adapter.onnx")
    record = {"heldout": {"student": {"embed_cos_mean": 0.9}}}
    bundle = distill_export.add_sensor(folder, "pan", adapter, record)
    bundle = distill_export.add_sensor(folder, "pan", adapter, record)  # replaces, not appends
    assert [spec.name for spec in bundle.image_specs] == ["rgb", "pan"]
    pan = bundle.image_spec("pan")
    assert pan.bands == ["pan"] and pan.adapter == "adapter_pan.onnx"
    assert pan.size == bundle.image.size and pan.mean == [0.5]
    assert bundle.provenance["sensors"]["pan"] == record
    # the core's encoder runs the adapter, then image.onnx (load_model needs GDAL, absent here)
    encoder = ImageEncoder(bundle, open_session(bundle.path(pan.file)), spec=pan,
                           adapter_session=open_session(bundle.path(pan.adapter)))
    pixels = np.random.default_rng(0).random((2, 1, pan.size, pan.size), np.float32)
    embeds, dense = encoder.encode(pixels)
    assert embeds.shape == (2, bundle.embedding_dim) and dense is not None


def test_sentinel2_sensor_keeps_its_own_ground_sample_distance(tmp_path):
    folder = _tiny_copy(tmp_path)
    adapter = distill_export.export_adapter_onnx(make_adapter("s2", width=0),
                                                 tmp_path / "adapter.onnx")
    bundle = distill_export.add_sensor(folder, "s2", adapter, {})
    assert bundle.image_spec("s2").gsd_m == 10.0 and bundle.image_spec("rgb").gsd_m is None
