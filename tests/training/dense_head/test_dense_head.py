"""Dense head from attention pseudo-labels: labels, the head's start, training, export + parity."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from training.dense_head import dense_head, pseudo_labels
from training.dense_head import train as train_dense_head
from training.export import export
from training.model import model as tl
from training.model.checkpoint import save_checkpoint

SIZE = 64


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return tl.create_model(image_size=SIZE, pretrained=True)


@pytest.fixture(scope="module")
def images(shared_data):
    """Eight real AID scenes at 64 px, uint8 (8, 64, 64, 3)."""
    names = ["airport", "beach", "denseresidential", "forest", "parking", "pond", "river",
             "farmland"]
    picked = []
    for name in names:
        with Image.open(shared_data / "aid" / "images" / f"{name}_1.webp") as image:
            picked.append(np.asarray(image.convert("RGB").resize((SIZE, SIZE))))
    return np.stack(picked)


def test_caption_labels_respect_word_groups():
    positive, negative = pseudo_labels.caption_labels(
        [["many buildings are near a pond ."], ["green trees around a lake"]])
    words = pseudo_labels.vocabulary_prompts()
    first = dict(zip(words, zip(positive[0], negative[0])))
    assert first["building"] == (True, False) and first["pond"] == (True, False)
    assert first["water"] == (False, False)  # a pond is water: "water" is not denied
    assert first["trees"] == (False, True)
    assert positive[1, words.index("water")] and positive[1, words.index("trees")]
    assert not positive[1, words.index("building")] and negative[1, words.index("building")]


def test_smoothing_keeps_mass_and_spreads_a_peak():
    peak = torch.zeros(1, 9, 9)
    peak[0, 4, 4] = 1.0
    smoothed = pseudo_labels.gaussian_smooth(peak, sigma=1.0)
    assert float(smoothed.sum()) == pytest.approx(1.0, abs=1e-5)
    assert smoothed[0, 4, 4] < 0.5 and smoothed[0, 4, 5] > 0.05
    assert torch.equal(pseudo_labels.gaussian_smooth(peak, 0), peak)


def test_masks_mark_the_blob_and_clamp_their_share():
    similarity = torch.full((1, 8, 8), 0.1)
    similarity[0, :3, :3] = 0.6  # an object in the top-left corner
    similarity += 0.01 * torch.randn(1, 8, 8, generator=torch.Generator().manual_seed(0))
    mask = pseudo_labels.masks_from_similarity(similarity, sigma=0.5)
    assert mask[0, :2, :2].all() and not mask[0, 5:, 5:].any()
    ramp = torch.linspace(0, 1, 64).reshape(1, 8, 8) ** 4  # Otsu alone would mark few cells
    share = pseudo_labels.masks_from_similarity(ramp, sigma=0, min_fraction=0.25).mean()
    assert float(share) == pytest.approx(0.25, abs=1 / 64)
    ramp = 1 - ramp  # ... or many
    share = pseudo_labels.masks_from_similarity(ramp, sigma=0, max_fraction=0.5).mean()
    assert float(share) == pytest.approx(0.5, abs=1 / 64)
    # A flat map says nothing about where: the whole image is marked.
    assert pseudo_labels.masks_from_similarity(torch.zeros(1, 8, 8)).all()


def test_pseudo_labels_weight_negatives_and_ignore_the_rest():
    similarity = torch.rand(2, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    positive = np.array([[True, False, False], [False, False, True]])
    negative = np.array([[False, True, False], [True, False, False]])
    targets, weights = pseudo_labels.pseudo_labels(similarity, positive, negative, 0.3)
    assert targets[0, 0].sum() > 0 and targets[0, 1].sum() == 0 and targets[1, 0].sum() == 0
    assert float(weights[0, 1, 0, 0]) == pytest.approx(0.3)
    assert float(weights[0, 2].max()) == 0.0 and float(weights[0, 0].min()) == 1.0


def test_cell_labels_pick_one_positive_word_a_location():
    similarity = torch.zeros(1, 3, 4, 4)
    similarity[0, 0, :, :2] = 1.0  # word 0 on the left
    similarity[0, 1, :, 2:] = 1.0  # word 1 on the right
    similarity[0, 2] = 2.0  # word 2 everywhere, but no caption names it
    labels = pseudo_labels.cell_labels(similarity, np.array([[True, True, False]]), sigma=0)
    assert (labels[0, :, :2] == 0).all() and (labels[0, :, 2:] == 1).all()
    nothing = pseudo_labels.cell_labels(similarity, np.zeros((1, 3), bool), sigma=0)
    assert (nothing == -1).all()


def test_untrained_head_reproduces_the_upsampled_baseline(model):
    pixels = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        pooled, dense = model.encode_image_dense(pixels)
        wrapped = dense_head.TerraLensDenseHead(model, dense_head.DenseHead()).eval()
        head_pooled, head_dense = wrapped(pixels)
    assert head_dense.shape[-2:] == (2 * model.dense_grid,) * 2
    assert torch.allclose(head_pooled, pooled, atol=1e-5)
    expected = dense_head.upsample_to(dense, head_dense.shape[-2:])
    assert torch.allclose(head_dense, expected, atol=1e-5)
    assert dense_head.head_grid(model) == (2 * model.dense_grid, model.dense_stride // 2)


def test_a_few_steps_on_real_images_lower_the_loss(model, images):
    torch.manual_seed(0)
    fine, dense = train_dense_head.cache_features(model, images)
    words = ["building", "trees", "water", "road"]
    text = train_dense_head.text_vectors(model, words)
    head = dense_head.DenseHead().eval()
    maps = train_dense_head.similarity_maps(head, fine, dense, text)
    positive = np.eye(len(images), len(words), dtype=bool) | np.eye(
        len(images), len(words), k=-4, dtype=bool)
    targets, weights = pseudo_labels.pseudo_labels(maps, positive, ~positive, sigma=0.5)
    scorer = train_dense_head.Scorer(10.0, 0.0)
    optimiser = torch.optim.Adam(list(head.parameters()) + list(scorer.parameters()), lr=3e-3)
    batch = (fine, dense, targets, weights)
    losses = []
    for _ in range(15):
        total, bce = train_dense_head.head_loss(head, scorer, batch, text, distill=0.1)
        optimiser.zero_grad()
        total.backward()
        optimiser.step()
        losses.append(bce.item())
    assert losses[-1] < 0.8 * losses[0]


def test_export_with_a_head_passes_parity(tmp_path, shared_data):
    torch.manual_seed(3)
    tiny = tl.create_model(image_size=SIZE, pretrained=False)
    checkpoint = tmp_path / "best.safetensors"
    save_checkpoint(tiny, checkpoint, {"recipe": {"name": "test", "model": {"image_size": SIZE}}})
    head = dense_head.DenseHead()
    torch.nn.init.normal_(head.out.weight, std=0.05)  # a head that differs from the baseline
    head_path = dense_head.save_head(head, tmp_path / "head.safetensors", {"rounds": []})
    out = tmp_path / "bundle"
    code = export.main(["--checkpoint", str(checkpoint), "--out", str(out), "--dense-head",
                        str(head_path), "--parity-data", str(shared_data)])
    assert code == 0
    data = json.loads((out / "bundle.json").read_text())
    assert data["image"]["dense_grid"] == 4 and data["image"]["dense_stride"] == 16
    assert data["provenance"]["parity"]["dense_features"]["min"] >= 0.999
    assert data["provenance"]["dense_head"]["file"] == str(head_path)


def test_load_head_rejects_foreign_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m training dense-head"):
        dense_head.load_head(tmp_path / "missing.safetensors")
    path = dense_head.save_head(dense_head.DenseHead(hidden=8), tmp_path / "h.safetensors")
    path.with_suffix(".json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(ValueError, match="not a dense-head record"):
        dense_head.load_head(path)
