"""Packing: rows, segment ids, positions, loss weights and the attention mask they imply."""

import numpy as np
from streams import concat_documents

from jaxlm.data.packing import causal_lm_row, num_rows, row_positions
from jaxlm.models.attention import attention_mask

EOS = 1


def _stream():
    docs = [[10, 11, 12], [20, 21, 22, 23, 24, 25, 26], [30], [40, 41, 42, 43]]
    return docs, concat_documents(docs, EOS)


def test_concat_appends_eos_and_tracks_documents():
    docs, s = _stream()
    assert s.tokens.tolist() == [10, 11, 12, 1, 20, 21, 22, 23, 24, 25, 26, 1, 30, 1, 40, 41, 42, 43, 1]
    assert s.segments.tolist() == [1] * 4 + [2] * 8 + [3] * 2 + [4] * 5


def test_rows_cover_stream_once_with_shifted_targets():
    """The rows read [eos] + stream: every token of the stream is a target exactly once."""
    _, s = _stream()
    T = 5
    assert num_rows(s, T) == 3 and num_rows(s, T, partial=True) == 4
    rows = [causal_lm_row(s, i, T, EOS) for i in range(4)]
    inputs, targets = (np.concatenate([r[k] for r in rows]) for k in ("inputs", "targets"))
    n = len(s)
    assert inputs[:n].tolist() == [EOS] + s.tokens[:-1].tolist()
    assert targets[:n].tolist() == s.tokens.tolist()
    assert np.concatenate([r["weights"] for r in rows]).tolist() == [1.0] * n + [0.0] * (4 * T - n)


def test_every_document_start_is_predicted_from_its_eos_within_the_document():
    docs, s = _stream()
    T = 5
    rows = [causal_lm_row(s, i, T, EOS) for i in range(num_rows(s, T, partial=True))]
    inputs, targets, seg, pos, w = (
        np.concatenate([r[k] for r in rows]) for k in ("inputs", "targets", "segment_ids", "positions", "weights")
    )
    firsts = np.nonzero((inputs == EOS) & (w > 0))[0]
    assert targets[firsts].tolist() == [d[0] for d in docs]  # each document's first token is a target
    assert seg[firsts].tolist() == [1, 2, 3, 4]  # from its own document's start context
    n = len(s)
    assert seg[:n].tolist() == s.segments.tolist()  # an input belongs to its target's document
    # positions restart at every row and at every eos that starts a document (rows of T = 5)
    assert pos[:n].tolist() == [0, 1, 2, 3, 0] + [0, 1, 2, 3, 4] + [0, 1, 0, 1, 0] + [0, 1, 2, 3]
    assert (seg[n:] == 0).all() and (w[n:] == 0).all() and (inputs[n:] == 0).all()


def test_positions_restart_at_document_boundaries():
    assert row_positions(np.array([2, 2, 3, 3, 3, 4, 0, 0])).tolist() == [0, 1, 0, 1, 2, 0, 0, 1]


def test_mask_never_crosses_documents_or_looks_ahead():
    _, s = _stream()
    T = 8
    rows = [causal_lm_row(s, i, T, EOS) for i in range(num_rows(s, T, partial=True))]
    seg = np.stack([r["segment_ids"] for r in rows])
    mask = np.asarray(attention_mask(seg, seg, causal=True))[:, 0]
    for b in range(len(rows)):
        for q in range(T):
            for k in range(T):
                allowed = seg[b, q] == seg[b, k] and seg[b, k] > 0 and k <= q
                assert mask[b, q, k] == allowed
