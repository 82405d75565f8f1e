"""Sentence pairs for next-sentence prediction, following google-research/bert's `create_instances_from_document`.

Sentences of one document accumulate up to a target length (max_tokens, or with probability short_seq_prob a
random length in [2, max_tokens]); A = the first k of them (k uniform in [1, n−1]); with probability 0.5 B is
text from a random start in another document and the unused sentences are put back, otherwise B = the rest
of the chunk. The longer side is then truncated one token at a time from the front or the back at random.
Deviations that keep the labels a fair coin: a chunk takes at least two sentences (BERT makes a one-sentence
chunk a random pair, which skews the labels when sentences are long or the target short; a lone last
sentence of a document makes no pair), and the target length is drawn per pair, not per document (a
document here is a whole play). With a single document, "random" B comes from the same document.
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Pair:
    """Token ids of A and B, the label, and where they came from (sentence index ranges, end exclusive)."""

    a: np.ndarray
    b: np.ndarray
    is_next: bool
    doc: int
    a_sents: tuple[int, int]
    b_doc: int
    b_sents: tuple[int, int]


def _target_length(max_tokens: int, short_seq_prob: float, rng: np.random.Generator) -> int:
    return int(rng.integers(2, max_tokens + 1)) if rng.random() < short_seq_prob else max_tokens


def truncate_pair(a: np.ndarray, b: np.ndarray, max_tokens: int, rng: np.random.Generator):
    """Drop tokens from the front or back (at random) of the longer side until len(a) + len(b) ≤ max_tokens."""
    a_lo, a_hi, b_lo, b_hi = 0, len(a), 0, len(b)
    while (a_hi - a_lo) + (b_hi - b_lo) > max_tokens:
        front = rng.random() < 0.5
        if a_hi - a_lo > b_hi - b_lo:
            a_lo, a_hi = (a_lo + 1, a_hi) if front else (a_lo, a_hi - 1)
        else:
            b_lo, b_hi = (b_lo + 1, b_hi) if front else (b_lo, b_hi - 1)
    return a[a_lo:a_hi], b[b_lo:b_hi]


def _random_b(docs: list[list[np.ndarray]], d: int, target: int, rng: np.random.Generator):
    """At least one sentence of another document (the same one only if there is no other) from a random start."""
    other = int(rng.integers(len(docs) - 1)) if len(docs) > 1 else d
    other += int(len(docs) > 1 and other >= d)
    start = int(rng.integers(len(docs[other])))
    end, length = start, 0
    while end < len(docs[other]) and (end == start or length < target):
        length += len(docs[other][end])
        end += 1
    return other, (start, end)


def document_pairs(
    docs: list[list[np.ndarray]], d: int, max_tokens: int, short_seq_prob: float, rng: np.random.Generator
) -> list[Pair]:
    """All pairs from document `d` (a list of tokenized sentences) in one pass, as BERT builds them."""
    doc, pairs = docs[d], []
    target = _target_length(max_tokens, short_seq_prob, rng)
    start, length, i = 0, 0, 0
    while i < len(doc):
        length += len(doc[i])
        if i > start and (i == len(doc) - 1 or length >= target):
            a_end = start + int(rng.integers(1, i + 1 - start))
            is_next = rng.random() < 0.5
            if is_next:
                b_doc, b_sents = d, (a_end, i + 1)
            else:
                b_doc, b_sents = _random_b(docs, d, target - sum(len(s) for s in doc[start:a_end]), rng)
                i = a_end - 1  # the unused sentences go back
            a, b = truncate_pair(
                np.concatenate(doc[start:a_end]), np.concatenate(docs[b_doc][slice(*b_sents)]), max_tokens, rng
            )
            pairs.append(Pair(a, b, is_next, d, (start, a_end), b_doc, b_sents))
            start, length = i + 1, 0
            target = _target_length(max_tokens, short_seq_prob, rng)
        i += 1
    return pairs
