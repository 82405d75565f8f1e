"""Per-id boolean tables that BART's noising needs: which ids start a word and which end a sentence.

Rules (on sentencepiece pieces, '▁' = space): a word starts at a piece beginning with a space, at the
newline piece, and right after a newline or an eos; a sentence ends at a piece whose text ends with . ! or ?
(optionally followed by closing quotes/brackets), and at eos (the end of a document in the packed stream).
"""

import re

import numpy as np

from jaxlm.data.tokenizer import EOS_ID, FIRST_ORDINARY_ID, Tokenizer

NEWLINE_ID = FIRST_ORDINARY_ID  # the tokenizer's "\n" piece

_SENTENCE_FINAL = re.compile(r"[.!?]['\"’”)\]]*$")


def _pieces(tok: Tokenizer) -> list[str]:
    return [tok.id_to_piece(i) for i in range(tok.vocab_size)]


def word_start_ids(tok: Tokenizer) -> np.ndarray:
    """bool [vocab]: ids whose piece begins a new word on its own."""
    table = np.array([p.startswith("\u2581") or p == "\n" for p in _pieces(tok)])
    table[:FIRST_ORDINARY_ID] = False
    return table


def sentence_end_ids(tok: Tokenizer) -> np.ndarray:
    """bool [vocab]: ids after which a sentence ends."""
    table = np.array([bool(_SENTENCE_FINAL.search(p.replace("\u2581", " ").rstrip())) for p in _pieces(tok)])
    table[:FIRST_ORDINARY_ID] = False
    table[EOS_ID] = True
    return table


def word_starts(tokens: np.ndarray, starts_table: np.ndarray) -> np.ndarray:
    """bool [len]: word-start positions of a window (its first token always counts; eos never does)."""
    prev = np.concatenate([[EOS_ID], tokens[:-1]])
    return (starts_table[tokens] | (prev == EOS_ID) | (prev == NEWLINE_ID)) & (tokens != EOS_ID)
