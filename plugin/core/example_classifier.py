"""Label tiles from a few examples: class prototypes mixed with text, or logistic regression.

Each class's image prototype is the mean of its examples' unit embeddings (each example counts
once, however many tiles it covers). A tile's logit for a class is `a` times its cosine to the
prototype plus `b` times its cosine to the class's text (the mean over the classes that have
text taken off, so classes without text are neither helped nor hurt): Tip-Adapter and ProtoCLIP
mix image prototypes with text the same way. A class with text but no example gets the text
moved across the modality gap (the mean of prototype minus text over the classes that have
both) as its prototype. With enough examples in every class the image term becomes a
regularised multinomial logistic regression, the text term kept as a fixed offset.

The two weights are not fixed: `a` and `b` are fitted to the user's own examples by maximising
their leave-one-out likelihood, so text that describes the classes badly (a domain the model's
words do not know) gets little weight. Every other choice was made on AID validation images
only (the RSICD-on-AID test split, scene classes from the caption table; never UC Merced or
RSSCN7), with 10 seeds, k = 1, 2, 4, 8 and 16 examples a class, and the class names' text as it
is (90 % zero-shot on AID), half of it swapped among classes (45 %) or noised (38 %), as words
are on scenes the model does not know (`python -m training fewshot-select`):
- no centring of the embeddings (centring on all images: -0.2 to +0.05 points);
- `image_temperature` = 13 when no class has two examples (leave-one-out then cannot fit `a`):
  the temperature that calibrates 1-shot prototypes on AID queries (maximum likelihood, 12.9),
  not one tuned for accuracy;
- logistic regression once every class has at least 8 examples: against prototypes it gained
  +0.06 to +0.15 points with 8 and 0 to +0.3 with 16 under all four text variants, and lost
  up to 0.2 with 4 and up to 6.7 with 1; L2 weight 1e-3 towards zero, 100 accelerated gradient
  steps (converged after 50), every class and every example weighted equally.

The logistic regression's scores come out too low (AID validation, 16 examples a class: a mean
best score of 0.76 for 95 % right), so its logits are divided by a temperature read from the
user's own examples: the one of largest likelihood for the held-out logits of the same
cross-validation that `validate` reports. No label changes; prototypes need none, as their
weights are fitted by leave-one-out likelihood already.
"""

from dataclasses import asdict, dataclass, replace

import numpy as np

TEMPERATURES = np.geomspace(1.0, 200.0, 32)  # candidates for `a` and `b`
SCORE_TEMPERATURES = np.geomspace(0.05, 20.0, 121)  # the logistic regression's score temperature
BLOCK_ROWS = 16384  # tiles converted to float32 and scored at a time
PROTOTYPES, LOGISTIC = "prototypes", "logistic regression"
LEAVE_ONE_OUT = "leave-one-out"


@dataclass(frozen=True)
class ClassifierSettings:
    """What was chosen on AID validation images (see the module docstring)."""

    image_temperature: float = 13.0
    text_temperature: float = None  # the model's own (its logit scale); None: image_temperature
    # The fitted weights are scaled down together (same labels) when one exceeds this many
    # times the model's own temperature: see `_capped`. Set, not tuned: on AID validation it
    # engaged in 0-60 % of the 1-example fits (most with noised text) and changed the default
    # (refined) accuracy by 0 to +0.2 points.
    max_temperature_factor: float = 2.0
    logistic_min_examples: int = 8
    l2: float = 1e-3
    iterations: int = 100
    folds: int = 10  # cross-validation folds of the logistic regression
    calibrate: bool = True  # the logistic regression's scores from its cross-validation

    def describe(self):
        """The settings as a JSON-ready dict (for output metadata)."""
        return asdict(self)


@dataclass
class ExampleClassifier:
    """A fitted classifier: logits = features @ weights.T + bias + text_weight * text term."""

    classes: list
    method: str
    weights: np.ndarray  # (classes, dim) float32
    bias: np.ndarray  # (classes,) float32
    text: np.ndarray  # (classes, dim) float32; zero rows for classes without text
    text_weight: float = 0.0
    image_weight: float = 0.0  # `a`, the prototypes' temperature (informational with LR)
    score_temperature: float = 1.0  # the logits are divided by it for probabilities

    def logits(self, embeddings):
        """(tiles, classes) float32 logits; float16 input is converted a block at a time."""
        out = np.empty((len(embeddings), len(self.classes)), np.float32)
        for first in range(0, len(embeddings), BLOCK_ROWS):
            block = unit_rows(embeddings[first:first + BLOCK_ROWS])
            out[first:first + len(block)] = (block @ self.weights.T + self.bias
                                             + self.text_weight * text_term(block, self.text))
        return out

    def probabilities(self, embeddings):
        """(tiles, classes) softmax of the logits divided by `score_temperature`."""
        return softmax(self.logits(embeddings) / np.float32(self.score_temperature))

    def describe(self):
        """What was fitted, JSON-ready."""
        return {"method": self.method, "classes": list(self.classes),
                "image_weight": round(float(self.image_weight), 3),
                "text_weight": round(float(self.text_weight), 3),
                "score_temperature": round(float(self.score_temperature), 3),
                "classes_with_text": [c for c, row in zip(self.classes, self.text) if row.any()]}


def fit(embeddings, labels, classes, groups=None, text=None, settings=None):
    """Fit the classifier to example tiles.

    Args:
        embeddings: (tiles, dim) image embeddings of the example tiles.
        labels: (tiles,) class number of each tile, 0 .. len(classes) - 1.
        classes: class names; a class may have no tile when it has text.
        groups: (tiles,) example number of each tile (tiles of one example share it; None:
            every tile is its own example).
        text: (classes, dim) unit text embeddings, a zero row for a class without text
            (None: no text).
        settings: ClassifierSettings.

    Raises:
        ValueError: fewer than two classes, or a class with neither examples nor text.
    """
    settings = settings or ClassifierSettings()
    data = _Examples.make(embeddings, labels, len(classes), groups, text)
    return _fit(data, classes, settings)


def validate(embeddings, labels, classes, groups=None, text=None, settings=None):
    """Accuracy of the examples when each is left out of the fit (the logistic regression:
    `settings.folds`-fold cross-validation by example, stratified by class).

    Returns:
        dict: "method" (how it was validated), "accuracy" (percent of the validated examples,
        None when none could be), "examples", "validated", and "per_class": {name: {"examples",
        "validated", "accuracy"}}. An example of a class with no other example cannot be left
        out of a prototype fit and is not validated.
    """
    settings = settings or ClassifierSettings()
    data = _Examples.make(embeddings, labels, len(classes), groups, text)
    return _validate(data, classes, settings)


def fit_and_validate(embeddings, labels, classes, groups=None, text=None, settings=None):
    """`fit` and `validate` together (same arguments): the logistic regression's
    cross-validation then runs once, for its accuracy and its score temperature both."""
    settings = settings or ClassifierSettings()
    data = _Examples.make(embeddings, labels, len(classes), groups, text)
    held_out = (_held_out_logits(data, classes, settings) if _logistic_fits(data, settings)
                else None)
    return (_fit(data, classes, settings, held_out),
            _validate(data, classes, settings, held_out))


def _logistic_fits(data, settings):
    """True when every class has examples enough for the logistic regression."""
    return data.examples_per_class.min() >= settings.logistic_min_examples


def _fit(data, classes, settings, held_out=None):
    """`fit` on prepared examples; `held_out`: their cross-validated logits, if at hand."""
    a, b = _capped(*_fit_weights(data, settings), settings)
    weights = a * data.prototypes
    bias = np.zeros(len(classes), np.float32)
    method, temperature = PROTOTYPES, 1.0
    if _logistic_fits(data, settings):
        method = LOGISTIC
        weights, bias = _logistic(data, b * data.text_cosines, settings)
        if settings.calibrate:
            if held_out is None:
                held_out = _held_out_logits(data, classes, settings)
            temperature = _score_temperature(data, held_out)
    return ExampleClassifier(list(classes), method, weights.astype(np.float32),
                             bias.astype(np.float32), data.text, float(b), float(a),
                             temperature)


def _validate(data, classes, settings, held_out=None):
    """`validate` on prepared examples; `held_out`: their cross-validated logits, if at hand."""
    if _logistic_fits(data, settings):
        if held_out is None:
            held_out = _held_out_logits(data, classes, settings)
        predicted = _group_votes(data, held_out)  # an example's tiles share its fold
        method = f"{settings.folds}-fold cross-validation"
    else:
        a, b = _capped(*_fit_weights(data, settings), settings)
        image, usable = data.leave_one_out_cosines()
        predicted = np.where(usable, _group_votes(data, a * image + b * data.text_cosines), -1)
        method = LEAVE_ONE_OUT
    return _report(data, classes, predicted, method)


def unit_rows(matrix):
    """Rows scaled to unit length, as float32."""
    matrix = np.asarray(matrix, np.float32)
    return matrix / np.maximum(np.linalg.norm(matrix, axis=-1, keepdims=True), 1e-12)


def softmax(logits):
    """Row-wise softmax."""
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def log_likelihood(logits, labels, weights=None):
    """(Weighted) mean log-probability of the true classes."""
    weights = np.ones(len(labels), np.float32) if weights is None else weights
    top = logits.max(axis=1, keepdims=True)
    log_norm = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
    return float(np.sum(weights * (logits[np.arange(len(labels)), labels] - log_norm))
                 / max(float(np.sum(weights)), 1e-12))


def text_term(features, text):
    """Cosine to each class's text, less the mean over the classes that have text (0 for the
    others): text moves probability among the classes it describes only."""
    has_text = np.any(text != 0, axis=1)
    if not has_text.any():
        return np.zeros((len(features), len(text)), np.float32)
    cosines = features @ text.T
    centred = cosines - cosines[:, has_text].mean(axis=1, keepdims=True)
    return np.where(has_text, centred, 0.0).astype(np.float32)


@dataclass
class _Examples:
    """Example tiles in unit length with their weights (each class, each example counts once)."""

    features: np.ndarray  # (tiles, dim)
    labels: np.ndarray
    groups: np.ndarray  # example number of each tile, 0 .. examples - 1
    weights: np.ndarray  # per tile; each class sums to 1 / (classes with examples)
    text: np.ndarray  # (classes, dim)
    examples_per_class: np.ndarray
    prototypes: np.ndarray = None
    text_cosines: np.ndarray = None

    @classmethod
    def make(cls, embeddings, labels, class_count, groups, text):
        features, labels = unit_rows(embeddings), np.asarray(labels, np.int64)
        if not len(labels):
            raise ValueError("no example tiles: examples are needed to label from examples")
        groups = np.arange(len(labels)) if groups is None else np.asarray(groups)
        _, groups = np.unique(groups, return_inverse=True)
        dim = features.shape[1] if features.ndim == 2 else 0
        text = np.zeros((class_count, dim), np.float32) if text is None else unit_rows(text) \
            * np.any(np.asarray(text) != 0, axis=1, keepdims=True)
        group_class = np.zeros(groups.max() + 1 if len(groups) else 0, np.int64)
        group_class[groups] = labels
        per_class = np.bincount(group_class, minlength=class_count)
        _check(per_class, text)
        tiles_in_group = np.bincount(groups)[groups]
        weights = 1.0 / (tiles_in_group * per_class[labels] * np.count_nonzero(per_class))
        data = cls(features, labels, groups, weights.astype(np.float32), text, per_class)
        data.prototypes = data._prototypes()
        data.text_cosines = text_term(features, text)
        return data

    def class_sums(self):
        sums = np.zeros((len(self.text), self.features.shape[1]), np.float32)
        np.add.at(sums, self.labels, self.weights[:, None] * self.features)
        return sums

    def _prototypes(self):
        """Mean example of each class; text-only classes: text moved across the gap."""
        prototypes = unit_rows(self.class_sums())
        has_text = np.any(self.text != 0, axis=1)
        with_examples = self.examples_per_class > 0
        both, text_only = with_examples & has_text, ~with_examples
        if text_only.any():
            gap = (prototypes[both] - self.text[both]).mean(axis=0)
            prototypes[text_only] = unit_rows(self.text[text_only] + gap)
        return prototypes

    def prototype_cosines(self):
        return self.features @ self.prototypes.T

    def leave_one_out_cosines(self):
        """Cosines with each tile's own class prototype made without its example; and which
        tiles have another example in their class. (Other prototypes are kept, including a
        text-only class's, whose gap the left-out example shares in a little.)"""
        group_sums = np.zeros((self.groups.max() + 1, self.features.shape[1]), np.float32)
        np.add.at(group_sums, self.groups, self.weights[:, None] * self.features)
        own = unit_rows(self.class_sums()[self.labels] - group_sums[self.groups])
        cosines = self.prototype_cosines()
        rows = np.arange(len(self.labels))
        cosines[rows, self.labels] = np.sum(self.features * own, axis=1)
        return cosines, self.examples_per_class[self.labels] >= 2


def _check(per_class, text):
    has_text = np.any(text != 0, axis=1)
    if len(per_class) < 2:
        raise ValueError("labelling from examples needs at least two classes: add examples of "
                         "another class, or text labels for classes without examples")
    missing = np.flatnonzero((per_class == 0) & ~has_text)
    if len(missing):
        raise ValueError(f"class number {int(missing[0])} has neither examples nor text")
    if (per_class == 0).any() and not (has_text & (per_class > 0)).any():
        raise ValueError("classes given by text alone need text for the classes with examples "
                         "too (to bridge words and images): give those classes text labels")


def _fit_weights(data, settings):
    """(a, b): image and text weights with the highest leave-one-out likelihood; without a
    class of two examples, a = settings.image_temperature and b fitted to the text alone."""
    loo, usable = data.leave_one_out_cosines()
    has_text = bool(np.any(data.text_cosines))
    text_grid = TEMPERATURES if has_text else np.zeros(1)
    if not usable.any():
        a = settings.image_temperature
        b = max(text_grid, key=lambda b: log_likelihood(
            b * data.text_cosines, data.labels, data.weights)) if has_text else 0.0
        return a, b
    labels, weights, text = data.labels[usable], data.weights[usable], data.text_cosines[usable]
    loo = loo[usable]
    best = max(((a, b) for a in TEMPERATURES for b in text_grid),
               key=lambda ab: log_likelihood(ab[0] * loo + ab[1] * text, labels, weights))
    return best


def _capped(a, b, settings):
    """(a, b) scaled down together so that neither exceeds `max_temperature_factor` times the
    model's own temperature for it.

    When the class names alone name every example right, the leave-one-out likelihood keeps
    rising with the text weight up to the end of the grid (200): every score is then about 1
    and Minimum score marks nothing. Scaling both weights by one factor keeps every tile's
    label and ranking (the argmax of a * image + b * text is the same) and leaves scores a
    user can threshold."""
    text_temperature = settings.text_temperature or settings.image_temperature
    excess = max(a / settings.image_temperature, b / text_temperature)
    excess /= settings.max_temperature_factor
    return (a / excess, b / excess) if excess > 1.0 else (a, b)


def settings_for(logit_scale, settings=None):
    """`settings` (None: the defaults) with the model's own text temperature (its logit scale)
    unless one is set."""
    settings = settings or ClassifierSettings()
    if settings.text_temperature is None:
        settings = replace(settings, text_temperature=float(logit_scale))
    return settings


def _logistic(data, offset, settings):
    """Multinomial logistic regression on the unit features, L2 towards zero on the weights
    (not the bias), `offset` added to the logits; Nesterov-accelerated gradient descent."""
    features = np.hstack([data.features, np.ones((len(data.features), 1), np.float32)])
    targets = np.eye(len(data.text), dtype=np.float32)[data.labels]
    weights = data.weights[:, None]
    penalty = np.ones(features.shape[1], np.float32)
    penalty[-1] = 0.0  # the bias is not shrunk
    scaled = features * np.sqrt(weights)
    step = 1.0 / (0.5 * np.linalg.eigvalsh(scaled.T @ scaled)[-1] + settings.l2)
    current = np.zeros((len(data.text), features.shape[1]), np.float32)
    ahead, momentum = current.copy(), 1.0
    for _ in range(settings.iterations):
        error = (softmax(features @ ahead.T + offset) - targets) * weights
        gradient = error.T @ features + settings.l2 * penalty * ahead
        following = ahead - step * gradient
        next_momentum = (1.0 + np.sqrt(1.0 + 4.0 * momentum ** 2)) / 2.0
        ahead = following + (momentum - 1.0) / next_momentum * (following - current)
        current, momentum = following, next_momentum
    return current[:, :-1], current[:, -1]


def _group_votes(data, logits):
    """Predicted class of each tile's example: the best mean probability over its tiles."""
    sums = np.zeros((data.groups.max() + 1, logits.shape[1]), np.float64)
    np.add.at(sums, data.groups, softmax(logits))
    return np.argmax(sums, axis=1)[data.groups]


def _score_temperature(data, held_out):
    """The temperature of largest likelihood for the example tiles' held-out logits."""
    return float(max(SCORE_TEMPERATURES, key=lambda t: log_likelihood(
        held_out / np.float32(t), data.labels, data.weights)))


def _held_out_logits(data, classes, settings):
    """(tiles, classes) logits of each example tile from the fit of the other folds
    (`settings.folds`, stratified by class, an example's tiles kept in one fold)."""
    group_class = np.zeros(data.groups.max() + 1, np.int64)
    group_class[data.groups] = data.labels
    rank = np.zeros_like(group_class)
    for number in np.unique(group_class):  # stratified: a class's examples go round the folds
        members = np.flatnonzero(group_class == number)
        rank[members] = np.arange(len(members))
    fold = (rank % settings.folds)[data.groups]
    # a fold's fit is the same logistic regression (a class short of `logistic_min_examples`
    # in a fold would turn it into prototypes) and needs no temperature of its own
    inner = replace(settings, calibrate=False, logistic_min_examples=1)
    logits = np.zeros((len(data.labels), len(classes)), np.float32)
    for number in range(settings.folds):
        held = fold == number
        if held.any():
            model = fit(data.features[~held], data.labels[~held], classes, data.groups[~held],
                        data.text, inner)
            logits[held] = model.logits(data.features[held])
    return logits


def _report(data, classes, predicted, method):
    """Per-example accuracy, overall and per class (an example counts once)."""
    first = np.unique(data.groups, return_index=True)[1]
    truth, guess = data.labels[first], predicted[first]
    checked = guess >= 0
    per_class = {}
    for number, name in enumerate(classes):
        mine = truth == number
        done = mine & checked
        per_class[name] = {"examples": int(mine.sum()), "validated": int(done.sum()),
                           "accuracy": _percent(guess[done] == number)}
    return {"method": method, "examples": int(len(first)), "validated": int(checked.sum()),
            "accuracy": _percent(guess[checked] == truth[checked]), "per_class": per_class}


def _percent(hits):
    return round(100.0 * float(np.mean(hits)), 1) if len(hits) else None
