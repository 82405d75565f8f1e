"""Text in, text out: a decoder-only model's sampled continuation of a prompt, an encoder-decoder's output for
an input (sampled or beam-searched), from a config, its params and its tokenizer."""

import jax
import ml_collections

from jaxlm.data.tokenizer import Tokenizer
from jaxlm.generate import sampling, seq2seq
from jaxlm.objectives.seq2seq import decoder_start_id, visible_text
from jaxlm.registry import build_model


def sample_text(
    cfg: ml_collections.ConfigDict,
    params,
    tok: Tokenizer,
    prompt: str,
    max_new_tokens: int,
    temperature: float,
    top_k: int,
    top_p: float,
    seed: int,
) -> str:
    """The prompt followed by its sampled continuation, decoded."""
    ids = tok.encode(prompt)
    sampling.check_sampling_args(
        len(ids), max_new_tokens, cfg.model.max_len, temperature, top_k, top_p, cfg.model.vocab_size
    )
    new = sampling.generate(
        build_model(cfg, decode=True),
        jax.device_get(params),
        ids,
        max_new_tokens,
        jax.random.PRNGKey(seed),
        temperature,
        top_k,
        top_p,
        tok.ids.eos,
    )
    return tok.decode(ids + new)


def seq2seq_text(
    cfg: ml_collections.ConfigDict,
    params,
    tok: Tokenizer,
    text: str,
    max_new_tokens: int,
    temperature: float,
    top_k: int,
    top_p: float,
    beam: int,
    length_penalty: float,
    seed: int,
) -> str:
    """The decoder's output for an input text, with sentinels and [MASK] shown."""
    ids = seq2seq.encode_input(tok, text)
    model, params = build_model(cfg, decode=True), jax.device_get(params)
    start, eos = decoder_start_id(cfg, tok), tok.ids.eos
    if beam:
        out = seq2seq.beam_search(model, params, ids, beam, max_new_tokens, start, length_penalty, eos)
    else:
        out = seq2seq.generate(
            model, params, ids, max_new_tokens, jax.random.PRNGKey(seed), start, temperature, top_k, top_p, eos
        )
    return visible_text(tok, out)
