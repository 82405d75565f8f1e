"""Greedy continuations of prompts, cut at the first stop string, as lm-eval's generate_until gives them:
decoder-only models one prompt at a time with a KV cache, encoder-decoders a batch at a time."""

import jax
import numpy as np

from jaxlm.data.tokenizer import Tokenizer
from jaxlm.errors import UserError
from jaxlm.generate import sampling, seq2seq


def cut(text: str, until: list[str]) -> str:
    """`text` up to the first occurrence of each stop string in turn (lm-eval's order)."""
    for stop in until:
        text = text.split(stop)[0]
    return text


def decoder_continuations(
    decode_model, params, tok: Tokenizer, prompts: list[str], until: list[str], max_gen_toks: int, max_length: int
) -> list[str]:
    """Each prompt's greedy continuation; the prompt keeps its last max_length - max_gen_toks tokens."""
    room = max_length - max_gen_toks
    if room < 1:
        raise UserError(
            f"generation_kwargs.max_gen_toks={max_gen_toks} leaves no room for a prompt in "
            f"{max_length} positions (config.data.seq_len): lower it"
        )
    out = []
    for prompt in prompts:
        ids = tok.encode(prompt)[-room:]
        if not ids:
            raise UserError("a generate_until document has an empty prompt: give every document prompt text")
        new = sampling.generate(
            decode_model, params, ids, max_gen_toks, jax.random.PRNGKey(0), temperature=0.0, eos_id=tok.ids.eos
        )
        out.append(cut(tok.decode(new), until))
    return out


def seq2seq_continuations(
    decode_model,
    params,
    tok: Tokenizer,
    prompts: list[str],
    until: list[str],
    max_gen_toks: int,
    max_length: int,
    start_id: int,
    batch_size: int,
) -> list[str]:
    """Each input's greedy decoder output, `batch_size` inputs of at most `max_length` tokens at a time."""
    decode = seq2seq.greedy_decoder(decode_model)
    encoded = [seq2seq.encode_input(tok, p)[-max_length:] for p in prompts]
    out = []
    for b in range(0, len(encoded), batch_size):
        inputs, segments = np.zeros((2, batch_size, max_length), np.int32)
        segments[:, 0] = 1  # the batch's padding rows see one token, so no attention row is empty
        for i, ids in enumerate(encoded[b : b + batch_size]):
            inputs[i, : len(ids)], segments[i, : len(ids)] = ids, 1
        rows = decode(params, inputs, segments, max_gen_toks, start_id, tok.ids.eos)
        out += [cut(tok.decode(r), until) for r in rows[: len(encoded) - b]]
    return out
