"""Packing: rows, segment ids, positions, loss weights and the attention mask they imply."""

import numpy as np

from jaxlm.data.packing import causal_lm_row, concat_documents, num_rows, row_positions
from jaxlm.models.layers import attention_mask

EOS = 1


def _stream():
    docs = [[10, 11, 12], [20, 21, 22, 23, 24, 25, 26], [30], [40, 41, 42, 43]]
    return docs, concat_documents(docs, EOS)


def test_concat_appends_eos_and_tracks_documents():
    docs, s = _stream()
    assert s.tokens.tolist() == [10, 11, 12, 1, 20, 21, 22, 23, 24, 25, 26, 1, 30, 1, 40, 41, 42, 43, 1]
    assert s.segments.tolist() == [1] * 4 + [2] * 8 + [3] * 2 + [4] * 5


def test_rows_cover_stream_once_with_shifted_targets():
    _, s = _stream()
    T = 5
    assert num_rows(s, T) == 3 and num_rows(s, T, partial=True) == 4
    inputs = np.concatenate([causal_lm_row(s, i, T)["inputs"] for i in range(4)])
    targets = np.concatenate([causal_lm_row(s, i, T)["targets"] for i in range(4)])
    n = len(s) - 1
    assert inputs[:n].tolist() == s.tokens[:-1].tolist()
    assert targets[:n].tolist() == s.tokens[1:].tolist()


def test_weights_exclude_pads_and_cross_document_targets():
    _, s = _stream()
    T = 5
    for i in range(num_rows(s, T, partial=True)):
        r = causal_lm_row(s, i, T)
        for t in range(T):
            j = i * T + t
            if j + 1 >= len(s):  # past the end: padding
                assert r["segment_ids"][t] == 0 and r["weights"][t] == 0 and r["inputs"][t] == 0
            else:
                assert r["weights"][t] == float(s.segments[j] == s.segments[j + 1])
    # The eos → first-token-of-next-document transition (12, 1) -> 20 is never a target.
    r = causal_lm_row(s, 0, T)
    assert r["inputs"][3] == 1 and r["targets"][3] == 20 and r["weights"][3] == 0


def test_positions_restart_at_document_boundaries():
    assert row_positions(np.array([2, 2, 3, 3, 3, 4, 0, 0])).tolist() == [0, 1, 0, 1, 2, 0, 0, 1]


def test_mask_never_crosses_documents_or_looks_ahead():
    _, s = _stream()
    T = 8
    rows = [causal_lm_row(s, i, T) for i in range(num_rows(s, T, partial=True))]
    seg = np.stack([r["segment_ids"] for r in rows])
    mask = np.asarray(attention_mask(seg, seg, causal=True))[:, 0]
    for b in range(len(rows)):
        for q in range(T):
            for k in range(T):
                allowed = seg[b, q] == seg[b, k] and seg[b, k] > 0 and k <= q
                assert mask[b, q, k] == allowed
