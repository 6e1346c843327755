"""The default TerraLens model: pretrained weights, shapes, dense path, frozen text, checkpoints."""

import copy
import math

import numpy as np
import pytest
import timm
import torch
from PIL import Image
from torch.nn.functional import cosine_similarity, normalize

from terralens.plugin.core.bundle import BUILTIN_VOCAB_DIR
from training.export.parity import parity_captions, parity_images
from training.model import model as tl

AIRCRAFT_CLASSES = {403, 404, 895, 908}  # ImageNet: aircraft carrier, airliner, warplane, wing


@pytest.fixture(scope="module")
def model():
    return tl.create_model(image_size=128, pretrained=True)


@pytest.fixture(scope="module")
def real_images(shared_data):
    pixels = torch.from_numpy(parity_images(128, shared_data, count=8))
    mean = torch.tensor(tl.IMAGE_MEAN).reshape(1, 3, 1, 1)
    std = torch.tensor(tl.IMAGE_STD).reshape(1, 3, 1, 1)
    return (pixels - mean) / std


def package_state():
    return torch.load(tl.efficientnet_weights_path(), map_location="cpu", weights_only=True)


def test_every_efficientnet_tensor_loads_from_the_package(model):
    source = package_state()
    assert len(source) == 296
    backbone = [(k, v) for k, v in source.items() if k not in tl.EFFNET_CLASSIFIER]
    target = list(model.visual.trunk.state_dict().items())
    assert len(backbone) == len(target) == 294
    for (src_key, value), (dst_key, loaded) in zip(backbone, target):
        assert torch.equal(value, loaded), f"{src_key} did not load into {dst_key}"


def test_mean_and_std_are_the_ones_the_imagenet_weights_expect(shared_data):
    network = timm.create_model("tf_efficientnet_lite0", pretrained=False).eval()
    names = list(network.state_dict())
    network.load_state_dict(dict(zip(names, package_state().values())))
    files = sorted((shared_data / "ucm" / "images" / "airplane").glob("*.webp"))[:4]
    pixels = np.stack([np.asarray(Image.open(f).convert("RGB").resize((224, 224)), np.float32)
                       for f in files]).transpose(0, 3, 1, 2) / 255.0

    def aircraft_votes(mean, std):
        x = (torch.from_numpy(pixels) - torch.tensor(mean).reshape(1, 3, 1, 1)) / torch.tensor(
            std).reshape(1, 3, 1, 1)
        with torch.no_grad():
            return sum(int(c) in AIRCRAFT_CLASSES for c in network(x).argmax(dim=1))
    assert aircraft_votes(tl.IMAGE_MEAN, tl.IMAGE_STD) >= 3
    assert aircraft_votes((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)) <= 1


def test_forward_shapes(model):
    images = torch.randn(2, 3, 128, 128)
    input_ids, attention_mask = tl.tokenize(["a remote sensing image of a forest.", "a port"])
    with torch.no_grad():
        pooled, dense = model.encode_image_dense(images)
        assert model.encode_image(images).shape == (2, 384)
        assert torch.allclose(model.encode_image(images), pooled, atol=1e-5)
        assert dense.shape == (2, 384, 4, 4)
        assert model.image_trunk_features(images).shape == (2, 1280, 4, 4)
        assert model.encode_text(input_ids, attention_mask).shape == (2, 384)
        features = model.text_features(input_ids, attention_mask)
        unit = model.encode_text(input_ids, attention_mask, normalize=True)
    assert features.shape == (2, 384)
    assert torch.allclose(unit.norm(dim=-1), torch.ones(2), atol=1e-5)
    assert torch.allclose(model.project_text(features), features, atol=1e-6)  # identity init
    assert (model.dense_grid, model.dense_stride) == (4, 32)


def test_dense_map_is_the_pooled_embedding_under_uniform_attention(model):
    pool = copy.deepcopy(model.visual.head.pool)
    with torch.no_grad():
        for tensor in (pool.q.weight, pool.q.bias, pool.pos_embed):
            tensor.zero_()  # uniform attention, and the mean token's value is the mean value
        pooled, dense = pool.forward_dense(torch.rand(3, 1280, 4, 4) * 6)
    assert torch.allclose(pooled, dense.mean(dim=(2, 3)), atol=1e-5)


def test_dense_features_describe_their_own_image(model, real_images):
    with torch.no_grad():
        pooled, dense = model.encode_image_dense(real_images)
    mean_dense = dense.mean(dim=(2, 3))
    own = cosine_similarity(pooled, mean_dense)
    assert own.min() > 0.8
    similarity = normalize(pooled, dim=-1) @ normalize(mean_dense, dim=-1).T
    assert torch.equal(similarity.argmax(dim=1), torch.arange(len(pooled)))
    assert own.mean() > similarity.fill_diagonal_(0).sum(1).div(len(pooled) - 1).mean() + 0.3


def test_only_the_projection_of_the_text_tower_trains(model):
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert [n for n in trainable if n.startswith("text.")] == ["text.proj.weight"]
    assert "logit_scale" in trainable
    assert any(n.startswith("visual.head.pool.") for n in trainable)
    assert math.isclose(model.logit_scale.item(), math.log(1 / 0.07), rel_tol=1e-6)
    model.train()
    try:
        assert model.visual.training and not model.text.transformer.training
    finally:
        model.eval()


def test_text_features_are_sentence_transformers_embeddings(model, shared_data):
    from sentence_transformers import SentenceTransformer
    captions = parity_captions(shared_data, count=12)
    packed = tl.precompute_text_features(captions, batch_size=5)
    reference = SentenceTransformer(str(tl.minilm_dir()), device="cpu").encode(captions)
    assert packed.dtype == np.float32 and packed.shape == (12, 384)
    np.testing.assert_allclose(packed, reference, atol=1e-5)
    input_ids, attention_mask = tl.tokenize(captions)
    with torch.no_grad():
        features = model.text_features(input_ids, attention_mask).numpy()
        without_mask = model.encode_text(input_ids).numpy()
    np.testing.assert_allclose(features, packed, atol=1e-5)
    np.testing.assert_allclose(without_mask, features, atol=1e-5)


def test_tokenizer_files_are_local_and_the_vocab_is_the_builtin_one():
    files = tl.text_tokenizer_files()
    assert all(path.is_file() for path in files.values())
    builtin = (BUILTIN_VOCAB_DIR / "vocab.txt").read_bytes()
    assert files["vocab.txt"].read_bytes() == builtin


def test_trainable_state_dict_round_trip():
    torch.manual_seed(0)
    trained = tl.create_model(image_size=64, pretrained=False).train()
    with torch.no_grad():
        trained.text.proj.weight.add_(torch.randn(384, 384) * 0.05)
        trained.logit_scale.fill_(3.0)
        trained.encode_image(torch.randn(4, 3, 64, 64))  # moves BatchNorm running statistics
    trained.eval()
    state = tl.trainable_state_dict(trained)
    assert "visual.trunk.bn1.running_mean" in state and "text.proj.weight" in state
    assert not any(key.startswith("text.transformer.") for key in state)
    fresh = tl.create_model(image_size=64, pretrained=True)
    tl.load_trainable(fresh, state)
    images = torch.randn(2, 3, 64, 64)
    input_ids, attention_mask = tl.tokenize(["a harbour with boats", "farmland"])
    with torch.no_grad():
        for a, b in zip(trained.encode_image_dense(images), fresh.encode_image_dense(images)):
            assert torch.allclose(a, b, atol=1e-5)
        assert torch.allclose(trained.encode_text(input_ids, attention_mask),
                              fresh.encode_text(input_ids, attention_mask), atol=1e-5)
    assert fresh.logit_scale.item() == 3.0


def test_load_trainable_resamples_the_pool_grid_and_rejects_bad_tensors(model):
    small = tl.trainable_state_dict(tl.create_model(image_size=64, pretrained=False))
    bigger = tl.create_model(image_size=128, pretrained=False)
    tl.load_trainable(bigger, small)
    assert bigger.visual.head.pool.pos_embed.shape == (17, 1280)
    with pytest.raises(ValueError, match="lacks"):
        tl.load_trainable(bigger, {"decoder.weight": torch.zeros(3)})
    with pytest.raises(ValueError, match="shape"):
        tl.load_trainable(bigger, {"text.proj.weight": torch.zeros(3, 3)})
