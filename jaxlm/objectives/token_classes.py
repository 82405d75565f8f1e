"""Per-id boolean tables that BART's noising needs: which ids start a word and which end a sentence.

Rules (on each piece's text in running text): a word starts at a piece beginning with a space, at the newline,
and right after a newline or an eos; a sentence ends at a piece whose text ends with . ! or ? (optionally followed
by closing quotes/brackets), and at eos (the end of a document in the packed stream).
"""

import re

import numpy as np

from jaxlm.data.special_tokens import SpecialIds, ordinary
from jaxlm.data.tokenizer import JAXLM_IDS, Tokenizer

_SENTENCE_FINAL = re.compile(r"[.!?]['\"’”)\]]*$")


def word_start_ids(tok: Tokenizer) -> np.ndarray:
    """bool [vocab]: ids whose piece begins a new word on its own."""
    return tok.word_start_table


def sentence_end_ids(tok: Tokenizer) -> np.ndarray:
    """bool [vocab]: ids after which a sentence ends."""
    table = np.array([bool(_SENTENCE_FINAL.search(t.rstrip())) for t in tok.piece_texts()])
    table &= ordinary(tok.ids, tok.vocab_size)
    table[tok.ids.eos] = True
    return table


def word_starts(tokens: np.ndarray, starts_table: np.ndarray, ids: SpecialIds = JAXLM_IDS) -> np.ndarray:
    """bool [len]: word-start positions of a window (its first token always counts; eos never does)."""
    prev = np.concatenate([[ids.eos], tokens[:-1]])
    return (starts_table[tokens] | (prev == ids.eos) | (prev == ids.newline)) & (tokens != ids.eos)
