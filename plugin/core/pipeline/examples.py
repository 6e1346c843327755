"""Label every tile of indexed rasters from example points or polygons with a class value.

The examples pick their tiles in the rasters' cached indexes (`example_tiles`), the few-shot
classifier (`example_classifier`) is fitted to those tiles' embeddings and labels every tile of
the rasters to label; nothing is encoded here, so a second run on the same rasters is quick.
"""

import re
from dataclasses import dataclass

import numpy as np

from .. import example_classifier, transductive
from .. import labels as label_maths
from ..example_tiles import locate_examples
from ..geometry import transform_points
from ..outputs import PolygonWriter
from ..run_control import RunControl
from .label import refinement_message
from .label_output import label_fields, label_values, probability_mosaic, write_class_raster
from .text_search import square_pixel_records

SHOWN = 8  # examples named in a warning
WRITE_CHUNK = 4096  # tiles whose top labels are ranked at once


@dataclass
class ExampleSet:
    """Example geometries with their class values.

    Attributes:
        geometries: points or polygons (WKT or ogr geometries) in `crs_wkt`.
        classes: the class value of each (made text; None or "": an unlabelled example).
        crs_wkt: their CRS (None: each raster's own).
        ids: how the user knows each example (feature ids), for messages (None: 1, 2, ...).
    """

    geometries: list
    classes: list
    crs_wkt: str = None
    ids: list = None

    def __post_init__(self):
        self.classes = [None if c is None or str(c).strip() == "" else str(c).strip()
                        for c in self.classes]

    def name(self, number):
        """"feature 12 (water)": an example as the user knows it."""
        ident = self.ids[number] if self.ids is not None else number + 1
        value = self.classes[number]
        return f"feature {ident} ({'no class' if value is None else value})"


@dataclass
class LabelOptions:
    """What the labelled tiles look like.

    Attributes:
        top_k, min_score: as zero-shot labelling (labels kept; below: "unknown").
        class_raster_path: optional class raster of the first raster.
        crs_wkt: CRS of the polygon layer (None: the first raster's).
        raster_names: names of the rasters to label, for the `raster` field.
        refine: refine each raster's probabilities with all its tiles (transductive) while
            the classifier is class prototypes (some class has fewer than
            `ClassifierSettings.logistic_min_examples` examples); the logistic regression fitted
            to more examples is not refined (on AID validation images refinement helped with
            1-4 examples a class and cost 0.1-0.3 points with 8 or 16). The example tiles keep
            their classes.
    """

    top_k: int = 3
    min_score: float = 0.0
    class_raster_path: str = None
    crs_wkt: str = None
    raster_names: list = None
    refine: bool = True

    def describe(self, refine_settings):
        """The options as a JSON-ready dict, with the refinement's settings (the model's,
        `transductive.settings_for`) when it is on."""
        return {"top_k": self.top_k, "min_score": self.min_score,
                "refine": {**refine_settings.describe(),
                           "when": "the classifier is class prototypes", "examples": "kept"}
                if self.refine else False}


@dataclass
class TrainingTiles:
    """The tiles the examples picked: embeddings, class names, example numbers."""

    embeddings: np.ndarray
    classes: list
    groups: np.ndarray
    places: list  # (example raster number, tile numbers, class) of each example


def label_from_examples(indexes, model, examples, out_path, text_labels=None,
                        class_names_as_text=True, options=None, example_indexes=None,
                        control=None, settings=None):
    """Label every tile of `indexes` with the classes of example geometries.

    Args:
        indexes: TileIndex objects of the rasters to label.
        model: loaded model (its text encoder embeds the text labels).
        examples: an ExampleSet.
        out_path: the polygon layer to write (label, score, runners-up; `raster` too when
            there are several rasters), in `options.crs_wkt` (None: the first raster's CRS).
        text_labels: optional words for classes, "forest, water" or "3=open water": a word
            naming a class gives it that text; others become classes known by text alone.
        class_names_as_text: a class without text label uses its name when it has a letter.
        options: LabelOptions (top labels, minimum score, class raster, refinement ...).
        example_indexes: indexes of the rasters the examples lie on (None: `indexes`); each
            example is taken from the first that holds it.
        settings: example_classifier.ClassifierSettings.

    Returns:
        dict: output paths, "classes", "label_counts", "tiles", "examples" (given, used,
        outside, unlabelled, tiles), "classifier", "validation" (leave-one-out accuracy of
        the examples per class), "refinement" (one summary a raster; [] when not
        refined) and "refinement_skipped" (why not, or None).

    Raises:
        ValueError: no example on any tile, fewer than two classes, or a bad text label.
    """
    control = control or RunControl()
    options = options or LabelOptions()
    example_indexes = indexes if example_indexes is None else example_indexes
    training, counts = _training_tiles(example_indexes, examples, control)
    given = {c for c in examples.classes if c is not None}
    _warn_near_duplicates(given, control)
    classes, words = _classes_and_words(sorted_classes(given), text_labels, class_names_as_text)
    classes, words = _drop_missing(classes, words, set(training.classes), examples, control)
    text = _text_vectors(model, classes, words)
    settings = example_classifier.settings_for(model.bundle.logit_scale, settings)
    numbers = np.asarray([classes.index(c) for c in training.classes], np.int64)
    classifier, validation = example_classifier.fit_and_validate(
        training.embeddings, numbers, classes, training.groups, text, settings)
    control.report(0.05, f"Classifier fitted to {counts['used']} examples ({counts['tiles']} "
                         f"tiles) of {len(classes)} classes: {classifier.method}")
    known = _known_tiles(indexes, example_indexes,
                         [(r, t, classes.index(c)) for r, t, c in training.places])
    refine_settings = transductive.settings_for(model.bundle)
    scored, refinements = _refined(indexes, classifier, options.refine, known,
                                   refine_settings, control.share(0, 2))
    skipped = refinement_skipped(options.refine, classifier)
    record = _record(indexes, classes, words, options.describe(refine_settings), classifier,
                     validation, counts, settings, refinements, skipped)
    written = _write(indexes, classes, scored, out_path, options, record, control.share(1, 2))
    return {"output": str(out_path), "class_raster": options.class_raster_path,
            "classes": classes, "text_labels": words, "examples": counts,
            "classifier": classifier.describe(), "validation": validation,
            "refinement": refinements,
            "refinement_skipped": skipped, **written}


def _warn_near_duplicates(classes, control):
    """Classes whose names differ only in case or spaces are kept apart, but said."""
    groups = {}
    for name in classes:
        groups.setdefault(" ".join(name.lower().split()), []).append(name)
    for names in groups.values():
        if len(names) > 1:
            control.warn(f"classes {', '.join(repr(n) for n in sorted(names))} differ only in "
                         "case or spaces and are labelled as different classes: give their "
                         "examples one spelling if they are one class")


def sorted_classes(values):
    """Class values in a natural order: numbers by value, then words alphabetically."""
    def key(value):
        number = _as_number(value)
        return (0, number, "") if number is not None else (1, 0.0, value.lower())

    return sorted(values, key=key)


def parse_text_labels(text):
    """[(class value or None, words)] from "forest, water" or "3=open water, 4=forest"."""
    if not text or not str(text).strip():
        return []
    pairs = []
    for item in label_maths.parse_labels(text):
        value, _, words = item.partition("=") if "=" in item else ("", "", item)
        words = " ".join(words.split())
        if not words:
            raise ValueError(f"text label {item!r} has no words after '=': write it as "
                             "'class=words', for example '3=open water'")
        pairs.append((value.strip() or None, words))
    return pairs


def _as_number(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _training_tiles(example_indexes, examples, control):
    """The tiles of every labelled example found on a raster; warnings for the others."""
    labelled = [n for n, c in enumerate(examples.classes) if c is not None]
    unlabelled = [n for n, c in enumerate(examples.classes) if c is None]
    if unlabelled:
        control.warn(f"{len(unlabelled)} examples have no class value and were not used: "
                     f"{_names(examples, unlabelled)}")
    if not labelled:
        raise ValueError("no example has a class value: give every example point or polygon "
                         "its class in the class field")
    located = locate_examples(example_indexes, [examples.geometries[n] for n in labelled],
                              examples.crs_wkt)
    outside = [n for n, found in zip(labelled, located) if found is None]
    if len(outside) == len(labelled):
        raise ValueError(f"none of the {len(labelled)} examples lies on a tile of the rasters "
                         "(outside them, on nodata or tiles of one value, or in a CRS that "
                         "cannot be placed there): "
                         "draw the examples on the rasters you label or name the rasters they "
                         "lie on")
    if outside:
        control.warn(f"{len(outside)} of {len(labelled)} examples lie on no tile of the rasters "
                     f"and were not used: {_names(examples, outside)}")
    embeddings, classes, places = [], [], []
    for number, found in ((n, f) for n, f in zip(labelled, located) if f):
        index_number, tiles = found
        embeddings.append(example_indexes[index_number].embeddings[np.sort(tiles)])
        classes += [examples.classes[number]] * len(tiles)
        places.append((index_number, np.sort(tiles), examples.classes[number]))
    groups = _shared_tile_groups(places)
    counts = {"given": len(examples.classes), "used": len(labelled) - len(outside),
              "outside": len(outside), "unlabelled": len(examples.classes) - len(labelled),
              "tiles": len(classes)}
    return TrainingTiles(np.concatenate(embeddings), classes, groups, places), counts


def _shared_tile_groups(places):
    """(tiles,) group of each example tile: examples of one class that share a tile are one
    group, so that leave-one-out never scores an example against its twin on the same tile."""
    parent = list(range(len(places)))

    def root(number):
        while parent[number] != number:
            parent[number] = parent[parent[number]]
            number = parent[number]
        return number

    first_on_tile = {}
    for number, (raster, tiles, value) in enumerate(places):
        for tile in tiles:
            other = first_on_tile.setdefault((raster, int(tile), value), number)
            parent[root(number)] = root(other)
    roots = [root(number) for number in range(len(places))]
    renumbered = {r: n for n, r in enumerate(dict.fromkeys(roots))}
    return np.concatenate([[renumbered[r]] * len(tiles)
                           for r, (_, tiles, _) in zip(roots, places)]).astype(np.int64)


def _names(examples, numbers):
    shown = ", ".join(examples.name(n) for n in numbers[:SHOWN])
    return shown + (f" and {len(numbers) - SHOWN} more" if len(numbers) > SHOWN else "")


def _classes_and_words(classes, text_labels, class_names_as_text):
    """Classes (those with examples, then those known by text alone) and {class: words}."""
    classes, words = list(classes), {}
    by_name = {c.lower(): c for c in classes}
    for value, text in parse_text_labels(text_labels):
        name = by_name.get((value or text).lower())
        if name is None:
            name = value or text
            classes.append(name)
            by_name[name.lower()] = name
        words[name] = text
    if class_names_as_text:
        for name in classes:
            if name not in words and re.search(r"[^\W\d_]", name):
                words[name] = name
    return classes, words


def _drop_missing(classes, words, with_examples, examples, control):
    """Classes without example tiles: kept when they have words (labelled from them alone),
    dropped otherwise; at least two classes must stay."""
    kept = []
    for name in classes:
        if name in with_examples or name in words:
            kept.append(name)
            if name not in with_examples and name in examples.classes:
                control.warn(f"class {name!r} has no example on the rasters: it is labelled "
                             "from its words alone")
        else:
            control.warn(f"class {name!r} has no example on the rasters and no text: dropped")
    if len(kept) < 2:
        only = f" (only {kept[0]!r} has examples)" if kept else ""
        raise ValueError(f"labelling from examples needs at least two classes{only}: add "
                         "examples of other classes on the rasters, or text labels for "
                         "classes without examples (for example 'water, forest')")
    return kept, {name: text for name, text in words.items() if name in kept}


def _text_vectors(model, classes, words):
    """(classes, dim) text embeddings of the classes' words, zero rows for classes without."""
    dim = model.bundle.embedding_dim
    vectors = np.zeros((len(classes), dim), np.float32)
    named = [c for c in classes if c in words]
    if named:
        embedded = label_maths.label_embeddings(
            model.text, [words[c] for c in named], [model.bundle.prompt_template])
        for name, vector in zip(named, embedded):
            vectors[classes.index(name)] = vector
    return vectors if named else None


def _record(indexes, classes, words, options, classifier, validation, counts, settings,
            refinements, skipped):
    """The output's metadata; `options` as described by `LabelOptions.describe`."""
    first = indexes[0].provenance
    return {"model_id": first.get("model_id"), "image_encoder": first.get("image_encoder"),
            "job": "label from examples",
            "rasters": [i.provenance.get("raster", {}).get("path") for i in indexes],
            "tiling": first.get("tiling"), "scaling": first.get("scaling"),
            "scale": first.get("scale"), "square_pixels": square_pixel_records(indexes),
            "parameters": {"labels": classes, "text_labels": words, **options},
            "classifier": {**classifier.describe(),
                           "settings": settings.describe()},
            "examples": counts, "validation": validation, "refinement": refinements,
            "refinement_skipped": skipped}


def _known_tiles(indexes, example_indexes, places):
    """Each raster to label's (tiles,) class numbers of its example tiles, -1 elsewhere (and
    where examples of two classes share a tile)."""
    known = [np.full(len(index), -1, np.int64) for index in indexes]
    for example_raster, tiles, class_number in places:
        for number, index in enumerate(indexes):
            if index is example_indexes[example_raster]:
                row = known[number]
                clash = (row[tiles] == -2) | ((row[tiles] >= 0) & (row[tiles] != class_number))
                row[tiles] = class_number
                row[tiles[clash]] = -2  # two classes: known as neither
    for row in known:
        row[row == -2] = -1
    return known


def refinement_skipped(refine, classifier):
    """Why the labels are not refined (None: they are)."""
    if not refine:
        return "turned off"
    if classifier.method == example_classifier.LOGISTIC:
        return ("every class has 8 or more examples, and the logistic regression labels better "
                "alone")
    return None


def _refined(indexes, classifier, refine, known, refine_settings, control):
    """Each raster's (tiles, classes) probabilities, refined with all its tiles when `refine`
    and the classifier is class prototypes; and what each refinement did."""
    scored, refinements = [], []
    skipped = refinement_skipped(refine, classifier)
    refine = skipped is None
    if skipped:
        control.report(0.0, f"Labels not refined with the whole raster: {skipped}")
    for number, index in enumerate(indexes):
        share = control.share(number, len(indexes))
        probabilities = classifier.probabilities(index.embeddings)
        if refine:
            share.report(0.1)
            refinement = transductive.refine(index.embeddings, probabilities, refine_settings,
                                             known[number])
            control.check()
            probabilities = refinement.probabilities
            refinements.append({**refinement.describe(),
                                "example_tiles_kept": int(np.count_nonzero(known[number] >= 0))})
            share.report(1.0, refinement_message(refinement, len(index)))
        scored.append(probabilities)
    return scored, refinements


def _write(indexes, classes, scored, out_path, options, record, control):
    """The polygon layer of every tile (and the first raster's class raster)."""
    crs_wkt = indexes[0].crs_wkt if options.crs_wkt is None else options.crs_wkt
    several = len(indexes) > 1
    names = list(options.raster_names or [i.provenance.get("raster", {}).get("path", "")
                                          for i in indexes])
    top_k = max(1, min(int(options.top_k), len(classes)))
    fields = label_fields(top_k) + ([("raster", "str")] if several else [])
    mosaic = _mosaic(indexes[0], len(classes)) if options.class_raster_path else None
    counts, total, done = {}, sum(len(i) for i in indexes), 0
    control.report(0.0, f"Writing {total} labelled tiles")
    with PolygonWriter(out_path, crs_wkt, fields, "labels", record) as writer:
        for number, (index, probabilities) in enumerate(zip(indexes, scored)):
            extra = {"raster": names[number]} if several else {}
            for first in range(0, len(index), WRITE_CHUNK):
                control.check()
                tiles = np.arange(first, min(first + WRITE_CHUNK, len(index)))
                rows = probabilities[tiles]
                best = label_maths.top_labels(rows, classes, top_k, options.min_score)
                for tile, footprint, pairs, row in zip(tiles, _footprints(index, tiles, crs_wkt),
                                                       best, rows):
                    writer.add(footprint, {**label_values(pairs), **extra})
                    counts[pairs[0][0]] = counts.get(pairs[0][0], 0) + 1
                    if mosaic is not None and number == 0:
                        mosaic.add(index.window(tile), row)
                done += len(tiles)
                control.report(done / max(total, 1))
        if mosaic is not None:
            write_class_raster(options.class_raster_path, mosaic, classes, indexes[0].crs_wkt,
                               record)
    control.report(1.0)
    return {"label_counts": counts, "tiles": done}


def _footprints(index, tiles, crs_wkt):
    """Corners of `tiles` in the CRS `crs_wkt` (one transformation for the whole block)."""
    corners = [corner for tile in tiles for corner in index.footprint(tile)]
    moved = transform_points(corners, index.crs_wkt, crs_wkt)
    return [moved[4 * n:4 * n + 4] for n in range(len(tiles))]


def _mosaic(index, count):
    raster = index.provenance.get("raster", {})
    tile_px = int(index.provenance.get("tiling", {}).get("tile_px", 8))
    return probability_mosaic(raster["width"], raster["height"], index.geotransform, tile_px,
                              count)
