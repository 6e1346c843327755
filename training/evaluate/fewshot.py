"""k-shot accuracy with the plugin's classifier: k examples a class drawn with fixed seeds, the
rest of the set scored, with and without the class names as text, with and without the
transductive refinement the plugin applies by default (all images of a set refined together).

Examples are drawn per class, in class order, with `numpy.random.default_rng(seed)`; the
embeddings are rounded to float16 first, as the plugin's tile index stores them.
"""

import numpy as np

from terralens.plugin.core import example_classifier, transductive

from .data import class_phrase
from .tasks import score_figures

SHOTS = (1, 5, 16)
SEEDS = (0, 1, 2, 3, 4)
RULE = ("for each seed, k images a class are drawn without replacement "
        "(numpy default_rng(seed), classes in order); every other image of the set is scored; "
        "mean and population standard deviation over the seeds")


def draw(labels, k, seed):
    """Indices of `k` examples of every class (sorted within the class before drawing)."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    picks = []
    for number in np.unique(labels):
        members = np.flatnonzero(labels == number)
        if len(members) <= k:
            raise ValueError(f"class {number} has {len(members)} images: too few to draw {k} "
                             "examples and score the rest")
        picks.append(rng.choice(members, k, replace=False))
    return np.sort(np.concatenate(picks))


def kshot_accuracy(images, labels, class_names, k, seeds=SEEDS, text=None, settings=None,
                   refine=False, keep_examples=True, refine_settings=None):
    """Top-1 accuracy (percent) of the classifier fitted to k examples a class.

    Args:
        images: (images, dim) unit embeddings.
        labels: (images,) class numbers.
        text: (classes, dim) text embeddings of the class names, or None (examples only).
        refine: refine the probabilities of all images together first (transductive, as the
            plugin refines every tile of a raster, the examples' included); "auto": as the
            plugin does by default, only while the classifier is class prototypes.
        keep_examples: the refinement keeps the examples' labels (as the plugin does for
            example tiles on the raster it labels); False lets it relabel them.
        refine_settings: transductive.RefineSettings (None: the plugin's defaults).
    """
    images = np.asarray(images, np.float16)
    labels = np.asarray(labels)
    scores, methods, scored, truth = [], set(), [], []
    for seed in seeds:
        support = draw(labels, k, seed)
        rest = np.setdiff1d(np.arange(len(labels)), support)
        model = example_classifier.fit(images[support], labels[support], class_names,
                                       text=text, settings=settings)
        if refine is True or (refine == "auto"
                               and model.method == example_classifier.PROTOTYPES):
            known = np.full(len(labels), -1, np.int64)
            if keep_examples:
                known[support] = labels[support]
            probabilities = transductive.refine(images, model.probabilities(images),
                                                refine_settings, known).probabilities[rest]
        else:
            probabilities = model.probabilities(images[rest])
        predicted = np.argmax(probabilities, axis=1)
        scores.append(100.0 * float(np.mean(predicted == labels[rest])))
        methods.add(model.method)
        scored.append(probabilities)
        truth.append(labels[rest])
    return {"top1": float(np.mean(scores)), "std": float(np.std(scores)),
            "min": float(np.min(scores)), "max": float(np.max(scores)), "per_seed": scores,
            "method": "/".join(sorted(methods)),
            "scores": score_figures(np.concatenate(scored), np.concatenate(truth))}


def few_shot_report(images, labels, class_names, text, shots=SHOTS, seeds=SEEDS,
                    settings=None):
    """k-shot top-1 for every k, examples only and examples with the class names as text, each
    also refined with all images together (the examples keep their classes), and the plugin's
    default: class names, refined only while the classifier is prototypes (a k that leaves some
    class no image to score, as with --limit, is skipped and says so)."""
    smallest = int(np.bincount(np.asarray(labels)).min())
    variants = [("examples_only", None, False), ("examples_and_class_names", text, False),
                ("examples_only_refined", None, True),
                ("examples_and_class_names_refined", text, True),
                ("examples_and_class_names_default", text, "auto")]
    return {variant: {str(k): kshot_accuracy(images, labels, class_names, k, seeds, vectors,
                                             settings, refine=refine)
                      if k < smallest else {"skipped": f"a class has only {smallest} images"}
                      for k in shots}
            for variant, vectors, refine in variants}


def few_shot(embedder, folders, template):
    """The evaluator's task: k-shot top-1 on every class set, beside its zero-shot top-1 with
    the same class-name text (one template)."""
    settings = example_classifier.settings_for(embedder.model.bundle.logit_scale)
    results = {"shots": list(SHOTS), "seeds": list(SEEDS), "rule": RULE, "template": template,
               "classifier": settings.describe(),
               "note": "classifier settings chosen on AID validation images only "
                       "(python -m training fewshot-select)"}
    for name, folder in folders.items():
        images = embedder.images(name, folder.paths)
        text = embedder.model.text.encode(
            [template.format(class_phrase(c)) for c in folder.class_names])
        zero_shot = 100.0 * float(np.mean(np.argmax(images @ text.T, axis=1) == folder.labels))
        results[name] = {"images": len(folder.paths), "classes": len(folder.class_names),
                         "zero_shot_top1": zero_shot,
                         **few_shot_report(images, folder.labels, folder.class_names, text,
                                           settings=settings)}
    return results
