"""Classification scores on the host: accuracy, macro-F1 and the majority-class baseline.

A prediction of -1 (a generated text that is no label) is wrong for every class: it counts as a false
negative of the true class and as nobody's false positive. Macro-F1 is the mean F1 over the classes that
occur among the gold labels or the (valid) predictions, as scikit-learn's default `f1_score(average="macro")`.
"""

import numpy as np


def accuracy(pred: np.ndarray, gold: np.ndarray) -> float:
    """Fraction of examples whose prediction is the gold label."""
    return float(np.mean(np.asarray(pred) == np.asarray(gold)))


def f1_per_class(pred: np.ndarray, gold: np.ndarray) -> dict[int, float]:
    """F1 = 2·TP / (2·TP + FP + FN) of every class that occurs among the gold labels or valid predictions."""
    pred, gold = np.asarray(pred), np.asarray(gold)
    out = {}
    for c in sorted(set(gold.tolist()) | (set(pred.tolist()) - {-1})):
        tp = np.sum((pred == c) & (gold == c))
        fp = np.sum((pred == c) & (gold != c))
        fn = np.sum((pred != c) & (gold == c))
        out[c] = float(2 * tp / (2 * tp + fp + fn))
    return out


def macro_f1(pred: np.ndarray, gold: np.ndarray) -> float:
    """Unweighted mean of the per-class F1 scores."""
    return float(np.mean(list(f1_per_class(pred, gold).values())))


def majority_label(train_labels: np.ndarray) -> int:
    """The most frequent training label (the lowest index on a tie)."""
    return int(np.argmax(np.bincount(np.asarray(train_labels))))


def scores(pred: np.ndarray, gold: np.ndarray, majority: int) -> dict:
    """accuracy and macro_f1 of the predictions and of always predicting `majority`, plus n_eval."""
    always = np.full(len(gold), majority)
    return {
        "accuracy": accuracy(pred, gold),
        "macro_f1": macro_f1(pred, gold),
        "majority_accuracy": accuracy(always, gold),
        "majority_macro_f1": macro_f1(always, gold),
        "n_eval": len(gold),
    }
