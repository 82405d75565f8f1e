"""Sentence splitting, NSP pair construction (balance, consecutiveness, truncation) and the pair layout."""

import numpy as np
import pytest

from jaxlm.data.pairs import document_pairs, truncate_pair
from jaxlm.data.sentences import split_sentences
from jaxlm.data.tokenizer import CLS_ID, SEP_ID
from jaxlm.objectives.bert_mlm_nsp import PairExamples, make_pairs
from jaxlm.objectives.roberta_mlm import SentenceRows

PLAY = """ACT I

SCENE II. A street in St. Albans.

Enter Mr. Shallow and SILENCE

SHALLOW
Come on, come on, sir; give me your hand,
Give me your hand, sir. What say you, cousin? be
Not so hasty! Good Mr. Slender will come anon.
"O brave new world!" Who goes there?

LADY CAPULET
Nurse, where's my daughter? call her forth to me.
"""


def test_sentences_of_a_play():
    spans = split_sentences(PLAY)
    assert "".join(spans) == PLAY
    assert [s.strip() for s in spans] == [
        "ACT I",
        "SCENE II. A street in St. Albans.",  # a heading stays whole
        "Enter Mr. Shallow and SILENCE",  # "Mr." does not end a sentence
        "SHALLOW",  # speaker names are units of their own
        "Come on, come on, sir; give me your hand,\nGive me your hand, sir.",  # verse lines are not sentences
        "What say you, cousin? be\nNot so hasty!",  # '?' before a lower-case word does not end one
        "Good Mr. Slender will come anon.",
        '"O brave new world!"',
        "Who goes there?",
        "LADY CAPULET",
        "Nurse, where's my daughter? call her forth to me.",
    ]


def test_sentence_edge_cases():
    assert split_sentences("") == [] and split_sentences("  \n\n ") == []
    assert split_sentences("\n\nHe said no. Then he left") == ["\n\nHe said no. ", "Then he left"]
    assert split_sentences("It costs 3.5 pounds. Pay it.\n") == ["It costs 3.5 pounds. ", "Pay it.\n"]


def _docs(n_docs: int, rng: np.random.Generator, max_len: int = 30) -> list[list[np.ndarray]]:
    """Documents of sentences whose ids are globally unique (so any slice identifies its source)."""
    next_id, docs = 1000, []
    for _ in range(n_docs):
        doc = []
        for _ in range(int(rng.integers(5, 60))):
            k = int(rng.integers(1, max_len))
            doc.append(np.arange(next_id, next_id + k, dtype=np.int32))
            next_id += k
        docs.append(doc)
    return docs


def _is_slice(part: np.ndarray, whole: np.ndarray) -> bool:
    return any(np.array_equal(whole[i : i + len(part)], part) for i in range(len(whole) - len(part) + 1))


def test_pairs_balanced_and_next_pairs_consecutive():
    docs = _docs(40, np.random.default_rng(0))
    pairs = make_pairs(docs, seq_len=64, short_seq_prob=0.1, copies=10, seed=0)
    assert len(pairs) > 2000
    assert abs(np.mean([p.is_next for p in pairs]) - 0.5) < 0.03
    for p in pairs:
        a0, a1 = p.a_sents
        assert 1 <= len(p.a) and 1 <= len(p.b) and len(p.a) + len(p.b) <= 64 - 3
        source_a = np.concatenate(docs[p.doc][a0:a1])
        source_b = np.concatenate(docs[p.b_doc][slice(*p.b_sents)])
        if p.is_next:  # B is the text that follows A in the same document
            assert p.b_doc == p.doc and p.b_sents[0] == a1
        else:
            assert p.b_doc != p.doc
        if len(source_a) + len(source_b) <= 64 - 3:  # untruncated: exactly the source sentences
            np.testing.assert_array_equal(p.a, source_a)
            np.testing.assert_array_equal(p.b, source_b)
        else:
            assert _is_slice(p.a, source_a) and _is_slice(p.b, source_b)
    for p in (p for p in pairs if p.is_next and len(p.a) + len(p.b) < 64 - 3):  # untruncated next pairs
        joined = np.concatenate([p.a, p.b])
        assert _is_slice(joined, np.concatenate(docs[p.doc]))  # A followed by B is consecutive text


def test_truncation_keeps_length_and_takes_from_the_longer_side():
    rng = np.random.default_rng(0)
    for _ in range(200):
        a, b = np.arange(int(rng.integers(1, 300))), np.arange(int(rng.integers(1, 300)))
        ta, tb = truncate_pair(a, b, 50, rng)
        assert len(ta) + len(tb) <= 50 and len(ta) >= 1 and len(tb) >= 1
        assert _is_slice(ta, a) and _is_slice(tb, b)
        if len(a) + len(b) > 50:
            assert abs(len(ta) - len(tb)) <= 1 or min(len(a), len(b)) in (len(ta), len(tb))
    long_docs = _docs(5, rng, max_len=400)
    for d in range(5):
        for p in document_pairs(long_docs, d, 61, 0.1, rng):
            assert len(p.a) + len(p.b) <= 61


def test_pair_layout():
    docs = _docs(6, np.random.default_rng(2))
    pairs = make_pairs(docs, seq_len=48, short_seq_prob=0.1, copies=1, seed=0)
    examples = PairExamples(pairs, 48, nsp=True)
    for i, p in enumerate(pairs):
        ex = examples[i]
        n = len(p.a) + len(p.b) + 3
        expected = np.concatenate([[CLS_ID], p.a, [SEP_ID], p.b, [SEP_ID], np.zeros(48 - n)])
        np.testing.assert_array_equal(ex["source_ids"], expected)
        types = np.concatenate([np.zeros(len(p.a) + 2), np.ones(len(p.b) + 1), np.zeros(48 - n)])
        np.testing.assert_array_equal(ex["segment_ids"], types)
        np.testing.assert_array_equal(ex["attention_mask"], (expected > 0).astype(int))
        assert ex["nsp_label"] == int(p.is_next)
    assert "nsp_label" not in PairExamples(pairs, 48, nsp=False)[0]


@pytest.mark.parametrize("packing", ["full_sentences", "doc_sentences"])
def test_roberta_rows_hold_whole_sentences(packing):
    """RoBERTa's FULL-SENTENCES: whole consecutive sentences, as many as fit, crossing documents with a [SEP];
    DOC-SENTENCES: never across documents. Only a sentence longer than T − 2 is cut, into pieces of T − 2."""
    T = 24
    docs = _docs(30, np.random.default_rng(3), max_len=12)
    docs[4].insert(1, np.arange(100, 100 + 2 * T, dtype=np.int32))  # longer than a row
    rows = SentenceRows(docs, T, packing == "full_sentences", segment_mask=True)
    units = [(k, s) for k, d in enumerate(docs) for s in range(len(d))]
    seen = []
    for i in range(len(rows)):
        row = rows[i]
        ids, att = row["source_ids"], row["attention_mask"]
        n = int(np.sum(att > 0))
        assert ids[0] == CLS_ID and ids[n - 1] == SEP_ID and (ids[n:] == 0).all() and n <= T
        body, body_att = ids[1 : n - 1], att[1 : n - 1]
        seps = np.flatnonzero(body == SEP_ID)
        assert (packing == "doc_sentences") <= (len(seps) == 0)
        assert att[0] == 1 and att[n - 1] == body_att[-1] and np.all(np.diff(body_att) >= 0)
        assert [int(body_att[j + 1]) for j in seps] == list(range(2, len(seps) + 2))  # a [SEP] opens the next doc
        pieces = rows.pieces[rows.bounds[i] : rows.bounds[i + 1]]
        expected = np.concatenate([docs[k][s][lo:hi] for k, s, lo, hi in pieces])
        np.testing.assert_array_equal(body[body != SEP_ID], expected)
        seen.append((pieces, n))
    flat = np.concatenate([p for p, _ in seen])
    assert [tuple(u) for u in flat[:, :2]] == [u for u in units for _ in range(-(-len(docs[u[0]][u[1]]) // (T - 2)))]
    for (pieces, n), (following, _) in zip(seen, seen[1:]):
        lo, hi = following[0, 2], following[0, 3]
        same_doc = following[0, 0] == pieces[-1, 0]
        if packing == "full_sentences" or same_doc:  # the next sentence (piece) did not fit
            assert n + (hi - lo) + (not same_doc) > T
