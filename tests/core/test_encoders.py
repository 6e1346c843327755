"""Tests of the ONNX encoders on the tiny random bundles in tests/data."""

import json
import shutil

import numpy as np
import pytest

from terralens.plugin.core import encoders
from terralens.plugin.core.bundle import BundleError
from terralens.plugin.core.encoders import load_model
from terralens.plugin.core.onnx_session import l2_normalise, open_session

BUNDLES = ["tiny-wordpiece", "tiny-clip"]
TEXTS = ["a forest", "a parking lot beside a river", "an airport with planes", "the sea"]


@pytest.fixture(scope="module", params=BUNDLES)
def model(request, repo_root):
    return load_model(repo_root / "tests" / "data" / request.param)


@pytest.fixture
def wordpiece_copy(repo_root, tmp_path):
    """A writable copy of the tiny WordPiece bundle."""
    return shutil.copytree(repo_root / "tests" / "data" / "tiny-wordpiece", tmp_path / "bundle")


def tiles(count, size=64, seed=0):
    """`count` unlike tiles in [0, 1]: noise, constant colours and stripes."""
    rng = np.random.default_rng(seed)
    out = rng.random((count, 3, size, size)).astype(np.float32)
    out[1::3] = rng.random((len(out[1::3]), 3, 1, 1))  # constant colours
    out[2::3, :, ::4] = 0.0  # stripes on noise
    return out


def edit_manifest(folder, change):
    path = folder / "bundle.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_bundles_load(model):
    assert model.bundle.embedding_dim == 32
    assert model.image.has_dense
    assert model.bundle.id in BUNDLES


def test_image_outputs_have_shapes_and_unit_length(model):
    embeds, dense = model.image.encode(tiles(5))
    assert embeds.shape == (5, 32) and embeds.dtype == np.float32
    assert dense.shape == (5, 32, 4, 4) and dense.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(embeds, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(dense, axis=1), 1.0, rtol=1e-5)


def test_image_encoding_is_batch_invariant(model):
    pixels = tiles(7)
    whole, whole_dense = model.image.encode(pixels)
    encoder = encoders.ImageEncoder(model.bundle, model.image.session, max_batch=3)
    chunked, chunked_dense = encoder.encode(pixels)
    np.testing.assert_allclose(chunked, whole, atol=1e-5)
    np.testing.assert_allclose(chunked_dense, whole_dense, atol=1e-5)
    assert (encoder.calls, encoder.tiles_encoded) == (3, 7)


def test_encode_embeddings_matches_encode(model):
    pixels = tiles(4)
    np.testing.assert_allclose(model.image.encode_embeddings(pixels),
                               model.image.encode(pixels)[0], atol=1e-6)


def test_four_views_do_not_change_when_the_tile_turns(model):
    pixels = tiles(3)
    turned = np.ascontiguousarray(np.rot90(pixels, 1, axes=(2, 3)))
    np.testing.assert_allclose(model.image.encode_embeddings(turned, views=4),
                               model.image.encode_embeddings(pixels, views=4), atol=1e-5)
    # one view sees the turn, two (0 and 180 degrees) see a quarter turn but not a half
    assert not np.allclose(model.image.encode_embeddings(turned),
                           model.image.encode_embeddings(pixels), atol=1e-3)
    half = np.ascontiguousarray(np.rot90(pixels, 2, axes=(2, 3)))
    np.testing.assert_allclose(model.image.encode_embeddings(half, views=2),
                               model.image.encode_embeddings(pixels, views=2), atol=1e-5)
    assert not np.allclose(model.image.encode_embeddings(turned, views=2),
                           model.image.encode_embeddings(pixels, views=2), atol=1e-3)


def test_views_are_the_normalised_mean_of_each_turn(model):
    pixels = tiles(2)
    single = [model.image.encode_embeddings(np.ascontiguousarray(np.rot90(pixels, k, (2, 3))))
              for k in (0, 2, 1)]
    mean = np.mean(single, axis=0)
    np.testing.assert_allclose(model.image.encode_embeddings(pixels, views=3),
                               mean / np.linalg.norm(mean, axis=1, keepdims=True), atol=1e-5)


@pytest.mark.parametrize("views", [0, 5, 2.5, True, -1, None, "3"])
def test_views_outside_one_to_four_are_refused(model, views):
    with pytest.raises(ValueError, match="views .* whole number from 1 to 4"):
        model.image.encode_embeddings(tiles(1), views=views)


def test_tile_settings_refuse_bad_views_when_resolved(wordpiece_model):
    from terralens.plugin.core.tiled_raster import TileSettings

    assert TileSettings(views=2.0).resolved(wordpiece_model.bundle).views == 2
    with pytest.raises(ValueError, match="views"):
        TileSettings(views=0).resolved(wordpiece_model.bundle)


def test_pixels_are_normalised_with_the_bundle_mean_and_std(model):
    pixels = tiles(2)
    spec = model.bundle.image
    mean = np.reshape(spec.mean, (1, 3, 1, 1))
    std = np.reshape(spec.std, (1, 3, 1, 1))
    feed = ((pixels - mean) / std).astype(np.float32)
    raw = model.image.session.run([spec.embedding_output], {spec.input_name: feed})[0]
    raw /= np.linalg.norm(raw, axis=1, keepdims=True)
    np.testing.assert_allclose(model.image.encode_embeddings(pixels), raw, atol=1e-5)


def test_unlike_images_embed_apart(model):
    pixels = tiles(3)
    embeds = model.image.encode_embeddings(pixels)
    similarity = embeds @ embeds.T
    assert similarity[0, 1] < 0.95 and similarity[0, 2] < 0.95 and similarity[1, 2] < 0.95
    other, _ = model.image.encode(pixels[::-1].copy())
    np.testing.assert_allclose(other, embeds[::-1], atol=1e-5)


def test_empty_batch(model):
    embeds, dense = model.image.encode(np.zeros((0, 3, 64, 64), np.float32))
    assert embeds.shape == (0, 32) and dense.shape == (0, 32, 4, 4)
    assert model.text.encode([]).shape == (0, 32)


def test_wrong_tile_size_is_refused(model):
    with pytest.raises(ValueError, match="resize tiles to 64 pixels"):
        model.image.encode(np.zeros((1, 3, 32, 32), np.float32))


def test_text_embeddings_are_unit_length_and_batch_invariant(model):
    whole = model.text.encode(TEXTS)
    assert whole.shape == (4, 32) and whole.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(whole, axis=1), 1.0, rtol=1e-5)
    single = np.concatenate([model.text.encode(text) for text in TEXTS])
    np.testing.assert_allclose(single, whole, atol=1e-5)
    similarity = whole @ whole.T
    assert np.all(similarity[~np.eye(4, dtype=bool)] < 0.99)


class RecordingSession:
    """Wraps a session and keeps the input names of every run."""

    def __init__(self, session):
        self.session = session
        self.fed = []

    def run(self, names, feeds):
        self.fed.append(sorted(feeds))
        return self.session.run(names, feeds)


def test_attention_mask_fed_only_when_bundle_names_one(model):
    session = RecordingSession(model.text.session)
    encoder = encoders.TextEncoder(model.bundle, session, model.text.tokenizer, max_batch=3)
    encoder.encode(TEXTS)
    expected = ["attention_mask", "input_ids"] if model.bundle.text.attention_mask_name \
        else ["input_ids"]
    assert session.fed == [expected, expected] and encoder.calls == 2


def test_missing_file_is_named(wordpiece_copy):
    (wordpiece_copy / "text.onnx").unlink()
    with pytest.raises(BundleError, match="lacks text.onnx"):
        load_model(wordpiece_copy)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_corrupt_onnx_is_named(wordpiece_copy, damage):
    path = wordpiece_copy / "image.onnx"
    data = {"garbage": b"this is not a protobuf" * 100, "truncated": path.read_bytes()[:5000],
            "empty": b""}[damage]
    path.write_bytes(data)
    with pytest.raises(BundleError, match=r"image\.onnx is corrupt.*re-download"):
        load_model(wordpiece_copy)


def test_wrong_schema_version(wordpiece_copy):
    edit_manifest(wordpiece_copy, lambda data: data.update(schema_version=99))
    with pytest.raises(BundleError, match="schema_version 99"):
        load_model(wordpiece_copy)


def test_wrong_embedding_dim(wordpiece_copy):
    edit_manifest(wordpiece_copy, lambda data: data.update(embedding_dim=64))
    with pytest.raises(BundleError, match="'image_embeds' axis 1 is 32, expected 64"):
        load_model(wordpiece_copy)


def test_wrong_output_name(wordpiece_copy):
    edit_manifest(wordpiece_copy, lambda data: data["text"].update(embedding_output="pooled"))
    with pytest.raises(BundleError, match="'pooled' is missing"):
        load_model(wordpiece_copy)


def test_wrong_dense_grid(wordpiece_copy):
    edit_manifest(wordpiece_copy, lambda data: data["image"].update(dense_grid=7))
    model = load_model(wordpiece_copy)
    with pytest.raises(BundleError, match="dense_grid of image encoder .rgb. is 7"):
        model.image.encode(tiles(1))


def test_adapter_feeds_the_main_encoder(sensors):
    pixels = np.random.default_rng(0).random((3, 1, 64, 64), dtype=np.float32)
    normalised = (pixels - 0.5) / 0.5
    adapted = np.concatenate([normalised, 0.5 * normalised, -normalised], axis=1)
    main = sensors.image
    expected = main.session.run([main.spec.embedding_output],
                                {main.spec.input_name: adapted.astype(np.float32)})[0]
    np.testing.assert_allclose(sensors.images["pan"].encode_embeddings(pixels),
                               l2_normalise(expected, axis=1), atol=1e-5)


def add_embedding_map(folder, matrix, name="map.npy"):
    """Give the bundle's RGB encoder an embedding map."""
    np.save(folder / name, matrix)
    edit_manifest(folder, lambda data: data["image"].update(embedding_map=name))


def test_embedding_map_moves_each_view_then_averages(wordpiece_copy, repo_root):
    plain = load_model(repo_root / "tests" / "data" / "tiny-wordpiece").image
    dim = plain.bundle.embedding_dim
    identity = np.vstack([np.eye(dim), np.zeros((1, dim))]).astype(np.float32)
    add_embedding_map(wordpiece_copy, identity)
    pixels = tiles(4)
    np.testing.assert_allclose(load_model(wordpiece_copy).image.encode_embeddings(pixels, 3),
                               plain.encode_embeddings(pixels, 3), atol=1e-6)
    matrix = np.random.default_rng(1).normal(size=(dim + 1, dim)).astype(np.float32)
    add_embedding_map(wordpiece_copy, matrix)
    mapped = load_model(wordpiece_copy).image
    views = [l2_normalise(plain.encode_embeddings(np.rot90(pixels, turns, axes=(2, 3)), 1)
                          @ matrix[:-1] + matrix[-1], axis=1) for turns in (0, 2, 1)]
    np.testing.assert_allclose(mapped.encode_embeddings(pixels, 3),
                               l2_normalise(np.mean(views, axis=0), axis=1), atol=1e-5)
    embeddings, dense = mapped.encode(pixels)  # dense maps are left as the encoder gives them
    np.testing.assert_allclose(dense, plain.encode(pixels)[1], atol=1e-6)


@pytest.mark.parametrize("problem", ["shape", "nan", "garbage", "missing"])
def test_a_bad_embedding_map_is_named(wordpiece_copy, problem):
    dim = json.loads((wordpiece_copy / "bundle.json").read_text())["embedding_dim"]
    matrix = np.zeros((dim + 1, dim), np.float32)
    if problem == "nan":
        matrix[0, 0] = np.nan
    add_embedding_map(wordpiece_copy, matrix[:-1] if problem == "shape" else matrix)
    if problem == "garbage":
        (wordpiece_copy / "map.npy").write_bytes(b"not an array")
    if problem == "missing":
        (wordpiece_copy / "map.npy").unlink()
    message = "lacks map.npy" if problem == "missing" else r"map\.npy of image encoder 'rgb'"
    with pytest.raises(BundleError, match=message):
        load_model(wordpiece_copy)


def test_sessions_do_not_busy_wait(repo_root):
    """The tile reader shares the cores with the encoder (see `open_session`)."""
    session = open_session(repo_root / "tests" / "data" / "tiny-wordpiece" / "image.onnx")
    options = session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
