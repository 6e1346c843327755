"""The model bundle schema (`bundle.json`): one definition, used by the exporter and the plugin.

A bundle is a folder holding `bundle.json`, `image.onnx`, `text.onnx`, tokenizer files and a
`MODEL_CARD.md`; optionally image encoders for other band sets (`sensors`, e.g. panchromatic or
Sentinel-2, often a small band adapter in front of `image.onnx`), a location encoder and the
range of ground scales the model knows (`scale`) and how much to soften its refined label scores
(`refine_score_temperature`).
`Bundle.to_dict` writes exactly the keys `Bundle.from_dict` reads, so writer and reader cannot
drift apart (the `tiles_size` / `tile_size` bug of other plugins).
"""

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .atomic import atomic_write_text

SCHEMA_VERSION = 4
# Version 1 bundles (no `sensors`, no `location`), version 2 bundles (no `scale`) and version 3
# bundles (no `refine_score_temperature`) read unchanged; a bundle without `scale` is tiled at
# its `gsd_m` whatever the raster, one without `refine_score_temperature` gets the plugin's.
READABLE_SCHEMA_VERSIONS = (1, 2, 3, 4)
BUNDLE_FILE = "bundle.json"
TOKENIZER_TYPES = ("wordpiece", "clip_bpe")
# Vocabularies shared by many models (CLIP's BPE merges, BERT's uncased WordPiece) ship once
# with the core; a bundle names them as "builtin:<file>" instead of carrying a copy.
BUILTIN_PREFIX = "builtin:"
BUILTIN_VOCAB_DIR = Path(__file__).resolve().parent / "tokenizers" / "data"
# Enlarging a raster pixel into more model pixels than this shows the model blur, not detail.
DEFAULT_MAX_UPSAMPLING = 2.0


class BundleError(ValueError):
    """A bundle is missing, malformed or inconsistent; the message says what to do."""


@dataclass
class ImageSpec:
    """How to feed the image encoder and what it returns.

    Pixels are first scaled to [0, 1] by the raster reader, then normalised with `mean`/`std`.
    `dense_output` is a (batch, dim, grid, grid) map of per-location embeddings; one cell covers
    `dense_stride` input pixels.
    """

    file: str = "image.onnx"
    input_name: str = "pixel_values"
    size: int = 224
    bands: list = field(default_factory=lambda: ["red", "green", "blue"])
    mean: list = field(default_factory=lambda: [0.485, 0.456, 0.406])
    std: list = field(default_factory=lambda: [0.229, 0.224, 0.225])
    embedding_output: str = "image_embeds"
    dense_output: str = "dense_features"
    dense_grid: int = 7
    dense_stride: int = 32
    # Which encoder this is ("rgb", "pan", "s2" ...) and what it was made for, in words.
    name: str = "rgb"
    description: str = ""
    # Optional ONNX file that maps this encoder's normalised bands (input `input_name`) to the
    # normalised input of `file` (output `adapter_output`): a band adapter distilled into the
    # RGB encoder's space, so another sensor costs kilobytes instead of a second encoder.
    adapter: str = ""
    adapter_output: str = "adapted_pixels"
    # Optional .npy file, a (dim + 1, dim) matrix M: each view's unit embedding e becomes
    # unit([e, 1] @ M), a linear correction fitted on training images (grey scenes towards their
    # colour embeddings). Embeddings only: dense maps (prompt masks) stay as the encoder gives.
    embedding_map: str = ""
    # Ground sample distance this encoder was trained at when it differs from the bundle's
    # (a Sentinel-2 encoder works on 10 m pixels); None: the bundle's `gsd_m`.
    gsd_m: float = None


@dataclass
class TextSpec:
    """How to tokenize text and feed the text encoder."""

    file: str = "text.onnx"
    tokenizer: str = "wordpiece"
    vocab_file: str = "vocab.txt"
    context_length: int = 64
    lower_case: bool = True
    input_ids_name: str = "input_ids"
    attention_mask_name: str = "attention_mask"  # empty string: the model takes no mask
    embedding_output: str = "text_embeds"


@dataclass
class LocationSpec:
    """A location encoder: (lon, lat) in degrees to an embedding in the image-text space."""

    file: str = "location.onnx"
    input_name: str = "lonlat"
    embedding_output: str = "location_embeds"
    prior_weight: float = 1.0  # the weight a user gets when asking for the prior without one
    description: str = ""


@dataclass
class ScaleSpec:
    """The ground scales a model knows, in metres of ground a model pixel (tile side / tile size).

    With the ground sample distance left automatic the plugin tiles a raster at the finest
    scale in `gsd_range_m` (no finer than the bundle's or encoder's `gsd_m`) that enlarges a
    raster pixel at most `max_upsampling` times. `gsd_range_m` is what the encoder was trained
    and evaluated at (`trained_gsd_m`, `evaluated_gsd_m`); `source` says how it was found.
    """

    gsd_range_m: list
    max_upsampling: float = DEFAULT_MAX_UPSAMPLING
    trained_gsd_m: list = None
    evaluated_gsd_m: list = None
    source: str = ""

    def problems(self):
        """What is wrong with the values, as a list of sentences (empty: nothing)."""
        problems = []
        for key in ("gsd_range_m", "trained_gsd_m", "evaluated_gsd_m"):
            value = getattr(self, key)
            if value is None and key != "gsd_range_m":
                continue
            if (not isinstance(value, (list, tuple)) or len(value) != 2
                    or not all(isinstance(v, (int, float)) and v > 0 for v in value)
                    or value[0] > value[1]):
                problems.append(f"scale.{key} must be [finest, coarsest], two positive numbers "
                                f"of metres a model pixel; got {value!r}")
        if not isinstance(self.max_upsampling, (int, float)) or self.max_upsampling < 1:
            problems.append(f"scale.max_upsampling must be at least 1, got "
                            f"{self.max_upsampling!r}")
        return problems


@dataclass
class Bundle:
    """A model bundle: encoders, tokenizer and the defaults the plugin runs it with."""

    id: str
    embedding_dim: int
    logit_scale: float  # multiplier of cosine similarities: CLIP's exp(logit_scale), e.g. 100
    image: ImageSpec
    text: TextSpec
    name: str = ""
    prompt_template: str = "a remote sensing image of a {}."
    tile_size: int = 224
    gsd_m: float = 0.0  # ground sample distance the model was trained at; 0 = use native pixels
    provenance: dict = field(default_factory=dict)
    sensors: list = field(default_factory=list)  # ImageSpec of encoders for other band sets
    location: LocationSpec = None
    scale: ScaleSpec = None  # None: every raster is tiled at `gsd_m` (bundles before schema 3)
    # How much refined (transductive) label scores are softened, chosen for this model by
    # `python -m training score-select`; None: `transductive.RefineSettings`' own.
    refine_score_temperature: float = None
    schema_version: int = SCHEMA_VERSION
    folder: Path = None  # where it was loaded from; not serialised

    def path(self, relative):
        """Absolute path of a file inside the bundle folder."""
        return Path(self.folder) / relative

    @property
    def image_specs(self):
        """Every image encoder: the main (RGB) one first, then the other sensors'."""
        return [self.image] + list(self.sensors)

    def image_spec(self, name):
        """The image encoder called `name`, or a BundleError listing the names there are."""
        for spec in self.image_specs:
            if spec.name == name:
                return spec
        names = ", ".join(spec.name for spec in self.image_specs)
        raise BundleError(f"model bundle {self.id!r} has no image encoder {name!r}; it has "
                          f"{names}")

    def vocab_path(self):
        """Path of the tokenizer vocabulary: in the bundle or shipped with the core ("builtin:")."""
        name = self.text.vocab_file
        if name.startswith(BUILTIN_PREFIX):
            return BUILTIN_VOCAB_DIR / name[len(BUILTIN_PREFIX):]
        return self.path(name)

    def to_dict(self):
        """Serialisable dict (the exact keys `from_dict` reads)."""
        data = asdict(self)
        data.pop("folder")
        if not self.sensors:
            data.pop("sensors")
        for spec in [data["image"]] + data.get("sensors", []):
            if not spec["embedding_map"]:
                spec.pop("embedding_map")  # optional: bundles without one read as before
        for key in ("location", "scale", "refine_score_temperature"):
            if getattr(self, key) is None:
                data.pop(key)
        return data

    @classmethod
    def from_dict(cls, data, folder=None):
        """Build a bundle from parsed `bundle.json`, with errors that name the bad key."""
        if not isinstance(data, dict):
            raise BundleError("bundle.json must hold a JSON object")
        version = data.get("schema_version")
        if version not in READABLE_SCHEMA_VERSIONS:
            raise BundleError(
                f"bundle.json has schema_version {version!r}, this TerraLens reads "
                f"{', '.join(map(str, READABLE_SCHEMA_VERSIONS))}: re-export the bundle with "
                "the matching training package or update the plugin"
            )
        try:
            image = _build(ImageSpec, data["image"], "image")
            text = _build(TextSpec, data["text"], "text")
            sensors = data.get("sensors") or []
            if not isinstance(sensors, list):
                raise BundleError("bundle.json section 'sensors' must be a list")
            sensors = [_build(ImageSpec, item, f"sensors[{i}]") for i, item in enumerate(sensors)]
            location = data.get("location")
            location = None if location is None else _build(LocationSpec, location, "location")
            scale = data.get("scale")
            scale = None if scale is None else _build(ScaleSpec, scale, "scale")
            nested = ("image", "text", "sensors", "location", "scale")
            top = {k: v for k, v in data.items() if k not in nested}
            bundle = cls(image=image, text=text, sensors=sensors, location=location,
                         scale=scale, folder=folder, **top)
        except KeyError as err:
            raise BundleError(f"bundle.json lacks the key {err}") from None
        except TypeError as err:
            raise BundleError(f"bundle.json has an unknown or missing key: {err}") from None
        bundle.check_values()
        return bundle

    def check_values(self):
        """Reject values that cannot work, before any model file is opened."""
        problems = []
        if self.text.tokenizer not in TOKENIZER_TYPES:
            problems.append(f"text.tokenizer must be one of {TOKENIZER_TYPES}, not "
                            f"{self.text.tokenizer!r}")
        for spec in self.image_specs:
            if len(spec.mean) != len(spec.bands) or len(spec.std) != len(spec.bands):
                problems.append(f"image encoder {spec.name!r}: mean and std need one value per "
                                "band")
            if spec.size <= 0:
                problems.append(f"image encoder {spec.name!r}: size must be positive")
        names = [spec.name for spec in self.image_specs]
        if len(set(names)) != len(names):
            problems.append(f"image encoder names must be unique, got {names}")
        if self.embedding_dim <= 0 or self.tile_size <= 0:
            problems.append("embedding_dim and tile_size must be positive")
        if self.text.context_length < 2:
            problems.append("text.context_length must be at least 2")
        if "{}" not in self.prompt_template:
            problems.append("prompt_template must contain '{}' where the label goes")
        if self.scale is not None:
            problems += self.scale.problems()
        temperature = self.refine_score_temperature
        if temperature is not None and (isinstance(temperature, bool)
                                        or not isinstance(temperature, (int, float))
                                        or not temperature > 0):
            problems.append(f"refine_score_temperature must be a positive number, got "
                            f"{temperature!r}")
        if problems:
            raise BundleError("bundle.json is invalid: " + "; ".join(problems))


def _build(spec_class, data, section):
    if not isinstance(data, dict):
        raise BundleError(f"bundle.json section {section!r} must be an object")
    try:
        return spec_class(**data)
    except TypeError as err:
        raise BundleError(f"bundle.json section {section!r}: {err}") from None


def load_bundle(folder):
    """Read and check `folder/bundle.json` and that every file it names exists."""
    folder = Path(folder)
    manifest = folder / BUNDLE_FILE
    if not manifest.is_file():
        raise BundleError(f"no {BUNDLE_FILE} in {folder}: choose a TerraLens model bundle folder "
                          "(it holds bundle.json, image.onnx and text.onnx)")
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise BundleError(f"{manifest} is not valid JSON ({err}); re-export the bundle") from None
    bundle = Bundle.from_dict(data, folder=folder)
    paths = {bundle.text.file: bundle.path(bundle.text.file),
             bundle.text.vocab_file: bundle.vocab_path()}
    for spec in bundle.image_specs:
        for name in filter(None, (spec.file, spec.adapter, spec.embedding_map)):
            paths[name] = bundle.path(name)
    if bundle.location is not None:
        paths[bundle.location.file] = bundle.path(bundle.location.file)
    missing = [name for name, path in paths.items() if not path.is_file()]
    if missing:
        hint = ""
        if bundle.text.file in missing:
            hint = " (the default model's text encoder is built by `make setup`)"
        raise BundleError(f"model bundle {bundle.id!r} in {folder} lacks {', '.join(missing)}"
                          f"{hint}")
    return bundle


def save_bundle(bundle, folder):
    """Write `bundle.json` into `folder` atomically and return its path."""
    folder = Path(folder)
    bundle.check_values()
    target = folder / BUNDLE_FILE
    atomic_write_text(target, json.dumps(bundle.to_dict(), indent=2, sort_keys=False) + "\n")
    return target


def check_session_io(bundle, image_io, text_io):
    """Check the main image and the text ONNX models' inputs and outputs against the bundle.

    `image_io` and `text_io` map "inputs"/"outputs" to {name: shape}, as read from an
    onnxruntime session (shapes hold ints or symbolic names for dynamic axes).
    """
    problems = image_io_problems(bundle, bundle.image, image_io)
    text = bundle.text
    _expect(problems, "text.onnx input", text_io["inputs"], text.input_ids_name, [None, None])
    if text.attention_mask_name:
        _expect(problems, "text.onnx input", text_io["inputs"], text.attention_mask_name,
                [None, None])
    _expect(problems, "text.onnx output", text_io["outputs"], text.embedding_output,
            [None, bundle.embedding_dim])
    _raise_problems(bundle, problems)


def image_io_problems(bundle, spec, image_io, adapter_io=None):
    """What does not match between an image encoder `spec` and its ONNX models' inputs/outputs.

    With an adapter, the adapter takes the encoder's bands and its output feeds `spec.file`.
    """
    problems = []
    channels = len(spec.bands)
    if spec.adapter:
        adapter_io = adapter_io or {"inputs": {}, "outputs": {}}
        _expect(problems, f"{spec.adapter} input", adapter_io["inputs"], spec.input_name,
                [None, channels, None, None])
        _expect(problems, f"{spec.adapter} output", adapter_io["outputs"], spec.adapter_output,
                [None, None, None, None])
        shape = adapter_io["outputs"].get(spec.adapter_output) or [None, None]
        channels = shape[1] if isinstance(shape[1], int) else None
    where = spec.file
    _expect(problems, f"{where} input", image_io["inputs"], spec.input_name,
            [None, channels, None, None])
    _expect(problems, f"{where} output", image_io["outputs"], spec.embedding_output,
            [None, bundle.embedding_dim])
    if spec.dense_output:
        _expect(problems, f"{where} output", image_io["outputs"], spec.dense_output,
                [None, bundle.embedding_dim, None, None])
    return problems


def check_image_io(bundle, spec, image_io, adapter_io=None):
    """Raise a BundleError when an image encoder does not match its ONNX files."""
    _raise_problems(bundle, image_io_problems(bundle, spec, image_io, adapter_io))


def check_location_io(bundle, location_io):
    """Raise a BundleError when the location encoder does not match its ONNX file."""
    spec, problems = bundle.location, []
    _expect(problems, f"{spec.file} input", location_io["inputs"], spec.input_name, [None, 2])
    _expect(problems, f"{spec.file} output", location_io["outputs"], spec.embedding_output,
            [None, bundle.embedding_dim])
    _raise_problems(bundle, problems)


def _raise_problems(bundle, problems):
    if problems:
        raise BundleError(f"model bundle {bundle.id!r} does not match its ONNX files: "
                          + "; ".join(problems) + ". Re-export the bundle.")


def _expect(problems, where, declared, name, shape):
    if name not in declared:
        problems.append(f"{where} {name!r} is missing (has {sorted(declared)})")
        return
    actual = list(declared[name])
    if len(actual) != len(shape):
        problems.append(f"{where} {name!r} has rank {len(actual)}, expected {len(shape)}")
        return
    for axis, (want, got) in enumerate(zip(shape, actual)):
        if want is not None and isinstance(got, int) and got != want:
            problems.append(f"{where} {name!r} axis {axis} is {got}, expected {want}")
