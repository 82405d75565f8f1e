"""What the masked-LM objectives share: the random transform of a clean example and its `data preview` text.

A clean example holds `source_ids` (ids before masking, padded), `segment_ids` (token types 0/1) and
`attention_mask` (0 = pad; tokens attend only to tokens with the same non-zero value), plus `nsp_label`
(1 = B follows A) for sentence pairs. The transform adds `inputs` (masked ids), `mlm_targets` (original ids
at predicted positions, 0 elsewhere) and `mlm_weights` (1 at predicted positions).
"""

import numpy as np

from jaxlm.data.masking import MaskSpec, mask_tokens
from jaxlm.data.special_tokens import ordinary
from jaxlm.data.tokenizer import Tokenizer


def masked_example(ex: dict, rng: np.random.Generator, spec: MaskSpec) -> dict:
    """The clean example plus its masked inputs, MLM targets and MLM weights."""
    masked = mask_tokens(ex["source_ids"], rng, spec)
    return dict(ex, inputs=masked["inputs"], mlm_targets=masked["targets"], mlm_weights=masked["weights"])


def render(ids: np.ndarray, tok: Tokenizer) -> str:
    """Ids as text with special tokens shown as their pieces ("[MASK]", "[SEP]"); padding left out."""
    out, run, text = [], [], ordinary(tok.ids, tok.vocab_size)
    for i in (int(i) for i in ids):
        if text[i]:
            run.append(i)
            continue
        out.append(tok.decode(run))
        run = []
        if i != tok.ids.pad:
            out.append(tok.id_to_piece(i))
    return "".join(out + [tok.decode(run)])


def describe(ex: dict, tok: Tokenizer) -> dict:
    """Decoded text of the masked input and of segments A (token type 0) and B (token type 1)."""
    source, types, real = ex["source_ids"], ex["segment_ids"], ex["attention_mask"] > 0
    text = ordinary(tok.ids, tok.vocab_size)[source]
    out = dict(masked_text=render(ex["inputs"], tok), text_a=tok.decode(source[text & real & (types == 0)]))
    if np.any(types == 1):
        out["text_b"] = tok.decode(source[text & (types == 1)])
    return out
