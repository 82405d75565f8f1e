"""Token streams built in memory for tests (the library's streams come from token stores: jaxlm/data/store.py)."""

import numpy as np

from jaxlm.data.packing import TokenStream


def concat_documents(docs: list[list[int]] | list[np.ndarray], eos_id: int) -> TokenStream:
    """Append eos to every document and concatenate, remembering which document each token came from."""
    pieces = [np.append(np.asarray(d, np.int32), np.int32(eos_id)) for d in docs]
    if not pieces:
        return TokenStream(np.zeros(0, np.int32), np.zeros(0, np.int32))
    segments = np.concatenate([np.full(len(p), i + 1, np.int32) for i, p in enumerate(pieces)])
    return TokenStream(np.concatenate(pieces), segments)
