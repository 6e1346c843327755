"""Build two tiny random-weight model bundles (WordPiece and CLIP-BPE text) for fast tests.

Run `python -m training.make_tiny_bundles --out tests/data`. The weights come from fixed seeds,
so running it again gives the same models; `tests/training/test_tiny_bundles.py` checks that.
"""

import argparse
import io
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from terralens.plugin.core.atomic import atomic_write_bytes, atomic_write_text
from terralens.plugin.core.bundle import Bundle, ImageSpec, TextSpec, save_bundle

from .tiny_sensors import build_sensor_bundle

DIM = 32
IMAGE_SIZE = 64
STRIDE = 16
VOCAB_ROWS = 1024  # ids are taken modulo this, which keeps text.onnx small for any vocabulary
OPSET = 17
SEEDS = {"tiny-wordpiece": 1234, "tiny-clip": 5678}

MODEL_CARD = """# {id}: random weights, for tests only

This bundle holds **random weights** made by `training/make_tiny_bundles.py` (seed {seed}).
It has learnt nothing: its labels, search results and masks are meaningless. It exists so that
tests of the TerraLens engine run in milliseconds without the real model.

- image encoder: four small convolutions to stride {stride}; the dense map ({dim} channels,
  {grid}x{grid} for a {size}x{size} input) is a per-location value projection, and the
  embedding an attention pool of the values through the same output projection (as MaskCLIP
  reads CLIP's attention pool).
- text encoder: a {rows}-row embedding table indexed by `input_ids % {rows}`, then
  {pool}, then a linear layer.
- tokenizer: `{tokenizer}` with `{vocab}`.

Regenerate with `python -m training.make_tiny_bundles --out tests/data`.
"""


def init_signal_preserving(model):
    """Re-draw weights so activations keep their scale and biases are zero.

    PyTorch's default init shrinks activations layer by layer while its biases stay, so a random
    network maps every image to almost the same vector; this one keeps images apart.
    """
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            nn.init.zeros_(module.bias)


class TinyImageEncoder(nn.Module):
    """Convolutions to stride 16, then MaskCLIP-style value path (dense) and attention pool."""

    def __init__(self, dim=DIM):
        super().__init__()
        widths = [3, 16, 24, 32, dim]
        layers = []
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.GELU()]
        self.trunk = nn.Sequential(*layers)
        self.key = nn.Conv2d(dim, dim, 1)
        self.value = nn.Conv2d(dim, dim, 1)
        self.query = nn.Parameter(torch.randn(dim) / dim ** 0.5)
        self.out_proj = nn.Linear(dim, dim)
        init_signal_preserving(self)

    def pool(self, pixel_values):
        """(attention-pooled values (B, D), per-location values (B, D, h, w))."""
        features = self.trunk(pixel_values)
        # Centre each location over channels, so the shared positive part that random GELU
        # layers leave does not make every image look alike.
        features = features - features.mean(dim=1, keepdim=True)
        keys = self.key(features).flatten(2)  # (B, D, N)
        values = self.value(features)  # (B, D, h, w)
        weights = torch.softmax(torch.einsum("d,bdn->bn", self.query, keys), dim=1)
        return torch.einsum("bn,bdn->bd", weights, values.flatten(2)), values

    def forward(self, pixel_values):
        pooled, values = self.pool(pixel_values)
        image_embeds = self.out_proj(pooled)
        # The same output projection at every location: the dense map lives in the embedding
        # space, which is what prompt masks need.
        dense_features = nn.functional.conv2d(values, self.out_proj.weight[:, :, None, None],
                                              self.out_proj.bias)
        return image_embeds, dense_features

    @torch.no_grad()
    def centre_embeddings(self, pixel_values):
        """Set the output bias so that these images' embeddings average to zero.

        Random weights leave a direction that every image shares; removing it spreads the
        cosine similarities of unlike images, as a trained model's are.
        """
        pooled, _ = self.pool(pixel_values)
        self.out_proj.bias.copy_(-self.out_proj.weight @ pooled.mean(dim=0))


def calibration_images(seed, count=48):
    """Normalised images in three kinds (constant colours, noise, stripes) to centre on."""
    generator = torch.Generator().manual_seed(seed)
    shape = (count, 3, IMAGE_SIZE, IMAGE_SIZE)
    colours = torch.rand(count, 3, 1, 1, generator=generator).expand(shape)
    noise = torch.rand(shape, generator=generator)
    period = torch.randint(2, 16, (count, 1, 1, 1), generator=generator)
    rows = torch.arange(IMAGE_SIZE).reshape(1, 1, -1, 1)
    stripes = ((rows // period) % 2).float().expand(shape) * colours
    kind = torch.arange(count).reshape(-1, 1, 1, 1) % 3
    images = torch.where(kind == 0, colours, torch.where(kind == 1, noise, stripes))
    mean = torch.tensor(ImageSpec().mean).reshape(1, 3, 1, 1)
    std = torch.tensor(ImageSpec().std).reshape(1, 3, 1, 1)
    return (images - mean) / std


class TinyTextEncoder(nn.Module):
    """Embedding table, masked mean pool, linear projection.

    With `causal_pool` (the CLIP variant) there is no mask input: the pool covers the tokens up
    to the highest id (CLIP's end-of-text token), as CLIP reads its output at that position.
    """

    def __init__(self, dim=DIM, causal_pool=False):
        super().__init__()
        self.causal_pool = causal_pool
        self.embed = nn.Embedding(VOCAB_ROWS, dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, input_ids, attention_mask=None):
        tokens = self.embed(torch.remainder(input_ids, VOCAB_ROWS))
        if self.causal_pool:
            positions = torch.cumsum(torch.ones_like(input_ids), dim=1) - 1
            end = torch.argmax(input_ids, dim=1, keepdim=True)
            mask = (positions <= end).to(tokens.dtype)
        else:
            mask = attention_mask.to(tokens.dtype)
        mask = mask.unsqueeze(-1)
        pooled = (tokens * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        return self.proj(pooled)


def export_onnx(model, args, input_names, output_names, dynamic_axes, target):
    """Export `model` to ONNX (TorchScript exporter, opset 17) and write it atomically."""
    buffer = io.BytesIO()
    # The TorchScript exporter is deprecated but needs no onnxscript and gives plain, stable
    # graphs for these small models; its deprecation notice is noise here.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, args, buffer, input_names=input_names,
                          output_names=output_names, dynamic_axes=dynamic_axes,
                          opset_version=OPSET, do_constant_folding=True, dynamo=False)
    atomic_write_bytes(target, buffer.getvalue())


def export_image(model, target):
    """Export the image encoder with dynamic batch, height and width."""
    example = torch.zeros(2, 3, IMAGE_SIZE, IMAGE_SIZE)
    export_onnx(model, (example,), ["pixel_values"], ["image_embeds", "dense_features"],
                {"pixel_values": {0: "batch", 2: "height", 3: "width"},
                 "image_embeds": {0: "batch"},
                 "dense_features": {0: "batch", 2: "grid_h", 3: "grid_w"}}, target)


def export_text(model, target, with_mask):
    """Export the text encoder with dynamic batch and length."""
    ids = torch.arange(2 * 8, dtype=torch.int64).reshape(2, 8)
    axes = {"input_ids": {0: "batch", 1: "length"}, "text_embeds": {0: "batch"}}
    if with_mask:
        axes["attention_mask"] = {0: "batch", 1: "length"}
        export_onnx(model, (ids, torch.ones_like(ids)), ["input_ids", "attention_mask"],
                    ["text_embeds"], axes, target)
    else:
        export_onnx(model, (ids,), ["input_ids"], ["text_embeds"], axes, target)


def tiny_bundle(bundle_id, clip):
    """The bundle.json content of a tiny bundle."""
    image = ImageSpec(size=IMAGE_SIZE, dense_grid=IMAGE_SIZE // STRIDE, dense_stride=STRIDE)
    if clip:
        text = TextSpec(tokenizer="clip_bpe", vocab_file="builtin:bpe_simple_vocab_16e6.txt.gz",
                        context_length=77, attention_mask_name="")
    else:
        text = TextSpec(tokenizer="wordpiece", vocab_file="builtin:vocab.txt",
                        context_length=32)
    provenance = {"recipe": "training/make_tiny_bundles.py", "weights": "random",
                  "seed": SEEDS[bundle_id], "note": "for tests only"}
    return Bundle(id=bundle_id, name=f"{bundle_id} (random weights, tests only)",
                  embedding_dim=DIM, logit_scale=100.0, image=image, text=text,
                  tile_size=IMAGE_SIZE, gsd_m=0.0, provenance=provenance)


POOLS = {
    False: "a mean over the attention mask",
    True: "a mean over the tokens up to the highest id (as CLIP reads its end-of-text\n"
          "  position; no mask input)",
}


def write_model_card(folder, bundle, clip):
    """Write MODEL_CARD.md: what the tiny bundle is, and that its weights are random."""
    text = MODEL_CARD.format(
        id=bundle.id, seed=SEEDS[bundle.id], stride=STRIDE, dim=DIM,
        grid=IMAGE_SIZE // STRIDE, size=IMAGE_SIZE, rows=VOCAB_ROWS, pool=POOLS[clip],
        tokenizer=bundle.text.tokenizer, vocab=bundle.text.vocab_file)
    atomic_write_text(folder / "MODEL_CARD.md", text)


def build_bundle(out_dir, bundle_id, clip):
    """Build one tiny bundle folder `out_dir/bundle_id` and return its path."""
    folder = Path(out_dir) / bundle_id
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(SEEDS[bundle_id])
    image_model = TinyImageEncoder().eval()
    image_model.centre_embeddings(calibration_images(SEEDS[bundle_id]))
    text_model = TinyTextEncoder(causal_pool=clip).eval()
    export_image(image_model, folder / "image.onnx")
    export_text(text_model, folder / "text.onnx", with_mask=not clip)
    bundle = tiny_bundle(bundle_id, clip)
    save_bundle(bundle, folder)
    write_model_card(folder, bundle, clip)
    verify_bundle(folder, clip)
    return folder


def _cosine(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _check(condition, message):
    if not condition:
        raise RuntimeError(f"tiny bundle check failed: {message}")


def test_images():
    """Three unlike images, already normalised: noise, a constant colour, stripes."""
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(3, IMAGE_SIZE, IMAGE_SIZE))
    constant = np.full((3, IMAGE_SIZE, IMAGE_SIZE), 0.5)
    rows = np.arange(IMAGE_SIZE)[:, None] % 8 < 4
    stripes = np.broadcast_to(np.where(rows, 1.5, -1.5), (3, IMAGE_SIZE, IMAGE_SIZE))
    return np.stack([noise, constant, stripes]).astype(np.float32)


def verify_bundle(folder, clip):
    """Run the exported files with onnxruntime: dynamic axes work and outputs are not degenerate."""
    import onnxruntime

    image = onnxruntime.InferenceSession(str(folder / "image.onnx"),
                                         providers=["CPUExecutionProvider"])
    embeds, dense = image.run(None, {"pixel_values": test_images()})
    _check(embeds.shape == (3, DIM) and dense.shape == (3, DIM, 4, 4),
           f"image outputs {embeds.shape} {dense.shape}")
    big = image.run(None, {"pixel_values": np.zeros((1, 3, 96, 128), np.float32)})[1]
    _check(big.shape == (1, DIM, 6, 8), f"dense map of a 96x128 image is {big.shape}")
    for i, j in ((0, 1), (0, 2), (1, 2)):
        _check(_cosine(embeds[i], embeds[j]) < 0.9, f"test images {i} and {j} embed alike")
    text = onnxruntime.InferenceSession(str(folder / "text.onnx"),
                                        providers=["CPUExecutionProvider"])
    ids = np.random.default_rng(0).integers(1, 5000, size=(3, 11)).astype(np.int64)
    feeds = {"input_ids": ids}
    if not clip:
        feeds["attention_mask"] = np.ones_like(ids)
    (texts,) = text.run(None, feeds)
    _check(texts.shape == (3, DIM), f"text output {texts.shape}")
    _check(_cosine(texts[0], texts[1]) < 0.9, "different texts embed alike")


def main(argv=None):
    """Command line: build both tiny bundles under `--out`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="tests/data", help="folder to write the bundles into")
    args = parser.parse_args(argv)
    folders = [build_bundle(args.out, bundle_id, clip)
               for bundle_id, clip in (("tiny-wordpiece", False), ("tiny-clip", True))]
    folders.append(build_sensor_bundle(Path(args.out), folders[0], DIM, export_onnx))
    for folder in folders:
        size = sum(path.stat().st_size for path in folder.iterdir())
        print(f"{folder}: {size / 1024:.0f} kB")


if __name__ == "__main__":
    main()
