"""Evaluation maths on embeddings and masks: recall@k, zero-shot and kNN accuracy, score
calibration, IoU (numpy only).

Scores are percentages in [0, 100]. Recall@k is the expected value when tied scores are
ordered at random: identical captions of different images (common in UCM-Captions) then
neither help nor hurt, and a collapsed model whose embeddings are all equal scores chance.
"""

import numpy as np

RECALL_KS = (1, 5, 10)
CHUNK_ROWS = 1024
CALIBRATION_BINS = 10


def rank_counts(similarity, relevant):
    """Where the best-scored relevant item of every query ranks, ties kept apart.

    Args:
        similarity: (queries, items) scores, higher is better.
        relevant: (queries, items) booleans; every query needs at least one relevant item.

    Returns:
        three int arrays (queries,): irrelevant items scoring above the best relevant score,
        irrelevant items tied with it, relevant items tied with it (at least 1).
    """
    similarity = np.asarray(similarity)
    relevant = np.asarray(relevant, bool)
    if similarity.shape != relevant.shape or similarity.ndim != 2:
        raise ValueError(f"similarity {similarity.shape} and relevant {relevant.shape} must be "
                         "matching (queries, items) arrays")
    if not relevant.any(axis=1).all():
        raise ValueError("every query needs at least one relevant item")
    counts = np.empty((3, len(similarity)), np.int64)
    for start in range(0, len(similarity), CHUNK_ROWS):  # chunks keep memory small
        block, hits = similarity[start:start + CHUNK_ROWS], relevant[start:start + CHUNK_ROWS]
        best = np.where(hits, block, -np.inf).max(axis=1)[:, None]
        tied = block == best
        rows = slice(start, start + len(block))
        counts[0, rows] = ((block > best) & ~hits).sum(axis=1)
        counts[1, rows] = (tied & ~hits).sum(axis=1)
        counts[2, rows] = (tied & hits).sum(axis=1)
    return counts[0], counts[1], counts[2]


def recall_at_k(ahead, tied=None, tied_relevant=None, ks=RECALL_KS):
    """{"R@k": expected percent of queries with a relevant item in the top k}.

    Args:
        ahead: irrelevant items ranked strictly before the first relevant one, per query.
        tied: irrelevant items tied with it (None: no ties); they are ordered at random with
            the `tied_relevant` relevant items of the same score.
    """
    ahead = np.asarray(ahead, np.int64)
    if not len(ahead):
        raise ValueError("recall@k needs at least one query")
    tied = np.zeros_like(ahead) if tied is None else np.asarray(tied, np.int64)
    tied_relevant = np.ones_like(ahead) if tied_relevant is None else np.asarray(tied_relevant)
    return {f"R@{k}": float(100.0 * np.mean(_hit_probability(ahead, tied, tied_relevant, k)))
            for k in ks}


def _hit_probability(ahead, tied, tied_relevant, k):
    """P(first relevant item within the top k) under a random order of each tie group.

    The number X of tied irrelevant items drawn before the first of r relevant ones has
    P(X >= x) = prod_{i<x} (m - i) / (m + r - i); a hit needs X < k - ahead.
    """
    slots = k - ahead
    at_least = np.ones(len(ahead))
    probability = np.zeros(len(ahead))
    for x in range(1, k + 1):
        i = x - 1
        at_least = at_least * np.clip(tied - i, 0, None) / np.maximum(tied + tied_relevant - i, 1)
        probability = np.where(slots == x, 1.0 - at_least, probability)
    return probability


def retrieval_recalls(image_embeddings, text_embeddings, text_image, ks=RECALL_KS):
    """Image->text and text->image recall@k and their mean ("mean recall").

    Args:
        image_embeddings: (images, dim) unit vectors.
        text_embeddings: (texts, dim) unit vectors.
        text_image: (texts,) index of each text's image; an image is matched by any of its texts.
    """
    text_image = np.asarray(text_image, np.int64)
    similarity = exact_similarity(text_embeddings, image_embeddings)
    relevant = text_image[:, None] == np.arange(similarity.shape[1])[None, :]
    text_to_image = recall_at_k(*rank_counts(similarity, relevant), ks=ks)
    image_to_text = recall_at_k(*rank_counts(similarity.T, relevant.T), ks=ks)
    mean = float(np.mean(list(text_to_image.values()) + list(image_to_text.values())))
    return {"image_to_text": image_to_text, "text_to_image": text_to_image, "mean_recall": mean}


def exact_similarity(rows, columns):
    """rows @ columns.T, computed once per distinct vector so that equal vectors tie exactly.

    (A matrix product may round the same dot product differently in different rows.)
    """
    unique_rows, row_of = np.unique(np.asarray(rows, np.float32), axis=0, return_inverse=True)
    unique_cols, col_of = np.unique(np.asarray(columns, np.float32), axis=0,
                                    return_inverse=True)
    return (unique_rows @ unique_cols.T)[row_of.reshape(-1)][:, col_of.reshape(-1)]


def accuracy_report(predicted, labels, class_names):
    """Top-1 accuracy overall and per class, in percent."""
    predicted, labels = np.asarray(predicted), np.asarray(labels)
    if not len(labels) or predicted.shape != labels.shape:
        raise ValueError("accuracy needs matching, non-empty prediction and label arrays")
    correct = predicted == labels
    per_class = {name: float(100.0 * correct[labels == number].mean())
                 for number, name in enumerate(class_names) if (labels == number).any()}
    return {"top1": float(100.0 * correct.mean()), "per_class": per_class}


def expected_calibration_error(probabilities, labels, bins=CALIBRATION_BINS):
    """ECE in percent: |accuracy - mean best score| over equal-width score bins, weighted."""
    probabilities = np.asarray(probabilities, np.float64)
    best = probabilities.max(axis=1)
    right = np.argmax(probabilities, axis=1) == np.asarray(labels)
    which = np.clip(np.ceil(best * bins).astype(int) - 1, 0, bins - 1)
    gap = 0.0
    for number in range(bins):
        members = which == number
        if members.any():
            gap += members.mean() * abs(right[members].mean() - best[members].mean())
    return 100.0 * float(gap)


def score_figures(probabilities, labels):
    """{"top1", "mean_score", "ece"} in percent, rounded to 2 decimals."""
    probabilities = np.asarray(probabilities)
    right = np.argmax(probabilities, axis=1) == np.asarray(labels)
    return {"top1": round(100.0 * float(right.mean()), 2),
            "mean_score": round(100.0 * float(probabilities.max(axis=1).mean()), 2),
            "ece": round(expected_calibration_error(probabilities, labels), 2)}


def zero_shot_predictions(image_embeddings, class_embeddings):
    """Index of the most similar class text for every image (cosine on unit vectors)."""
    return np.argmax(np.asarray(image_embeddings) @ np.asarray(class_embeddings).T, axis=1)


def ensemble_class_embeddings(template_embeddings):
    """Mean over templates of (templates, classes, dim) unit vectors, renormalised per class."""
    mean = np.asarray(template_embeddings, np.float64).mean(axis=0)
    return (mean / np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)).astype(
        np.float32)


def fold_of(count, folds=5):
    """Fold number of every item: its index in the sorted list modulo `folds`."""
    return np.arange(count) % folds


def knn_predictions(embeddings, labels, k=20, folds=5):
    """k-NN class of every item, from the items outside its fold (see `fold_of`).

    Each item takes the majority class of its k most cosine-similar items in the other folds;
    ties between classes go to the one with the larger summed similarity.

    Args:
        embeddings: (items, dim) unit vectors.
        labels: (items,) class numbers 0..C-1.
    """
    embeddings = np.asarray(embeddings, np.float32)
    labels = np.asarray(labels, np.int64)
    if folds < 2 or len(labels) < folds:
        raise ValueError(f"k-NN with {folds} folds needs at least {folds} items and 2 folds")
    fold = fold_of(len(labels), folds)
    classes = int(labels.max()) + 1
    predicted = np.empty(len(labels), np.int64)
    for number in range(folds):
        test, train = np.flatnonzero(fold == number), np.flatnonzero(fold != number)
        similarity = embeddings[test] @ embeddings[train].T
        kk = min(k, len(train))
        nearest = np.argpartition(-similarity, kk - 1, axis=1)[:, :kk]
        votes = np.zeros((len(test), classes))
        sums = np.zeros((len(test), classes))
        rows = np.repeat(np.arange(len(test)), kk)
        np.add.at(votes, (rows, labels[train][nearest].ravel()), 1.0)
        np.add.at(sums, (rows, labels[train][nearest].ravel()),
                  np.take_along_axis(similarity, nearest, axis=1).ravel())
        # |summed similarity| <= kk, so this tie-break term stays below half a vote.
        predicted[test] = np.argmax(votes + sums / (2 * kk + 1), axis=1)
    return predicted


def knn_report(embeddings, labels, class_names, k=20, folds=5):
    """k-NN top-1 accuracy over all items, per class and per fold, in percent."""
    labels = np.asarray(labels)
    predicted = knn_predictions(embeddings, labels, k, folds)
    report = accuracy_report(predicted, labels, class_names)
    fold = fold_of(len(labels), folds)
    report["per_fold"] = [float(100.0 * np.mean(predicted[fold == f] == labels[fold == f]))
                          for f in range(folds)]
    return report


def iou(predicted, truth):
    """Intersection over union of two boolean masks, in percent (NaN when both are empty)."""
    predicted, truth = np.asarray(predicted, bool), np.asarray(truth, bool)
    if predicted.shape != truth.shape:
        raise ValueError(f"masks differ in shape: {predicted.shape} vs {truth.shape}")
    union = np.logical_or(predicted, truth).sum()
    if not union:
        return float("nan")
    return float(100.0 * np.logical_and(predicted, truth).sum() / union)
