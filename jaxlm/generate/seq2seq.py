"""Decoding for encoder-decoders (T5, BART): greedy, sampling and beam search over a decoder cache.

The input is encoded once; the first decoder step computes every layer's cross-attention keys/values from
the encoder output and caches them, later steps feed one token and reuse them with the cached self-attention
keys/values. Outputs are the generated ids after the start token (ending with eos when it was generated).
"""

import re
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxlm.data.tokenizer import EOS_ID, Tokenizer
from jaxlm.errors import UserError
from jaxlm.generate.compiled import per_model
from jaxlm.generate.sampling import check_sampling_options, sample_logits


def encode_input(tok: Tokenizer, text: str) -> list[int]:
    """Text → ids + eos, with literal `<extra_id_N>` and the mask token (`[MASK]`) turned into their ids."""
    mask = tok.id_to_piece(tok.ids.mask) if tok.ids.mask is not None else "[MASK]"
    ids, start, n = [], 0, len(tok.ids.sentinels)
    for m in re.finditer(r"<extra_id_(\d+)>|" + re.escape(mask), text):
        ids += tok.encode(text[start : m.start()])
        if m.group(1) is not None and int(m.group(1)) >= n:
            raise UserError(
                f"--input has {m.group(0)}, but the tokenizer's sentinels are "
                f"{f'<extra_id_0> ... <extra_id_{n - 1}>: renumber it' if n else 'none: remove it'}"
            )
        if m.group(1) is None and tok.ids.mask is None:
            raise UserError(f"--input has {mask}, but the tokenizer has no mask token: remove it")
        ids.append(tok.sentinel_id(int(m.group(1))) if m.group(1) is not None else tok.ids.mask)
        start = m.end()
    return ids + tok.encode(text[start:]) + [tok.ids.eos]


def _check(inputs: list[int], max_new_tokens: int, model: nn.Module) -> None:
    if len(inputs) < 1:
        raise UserError("the input is empty: pass --input with some text")
    if max_new_tokens < 1:
        raise UserError(f"--max-new-tokens {max_new_tokens} must be ≥ 1")
    if type(model).__name__ == "BART" and max(len(inputs), max_new_tokens) > model.cfg.max_len:
        raise UserError(f"BART has {model.cfg.max_len} positions: keep the input and --max-new-tokens within them")


def start_decoding(model: nn.Module, params, inputs: list[int], copies: int, slots: int):
    """(encoder output, input segment ids, empty cache) for `copies` rows of the same input."""
    src = jnp.asarray([inputs] * copies, jnp.int32)
    seg = jnp.ones_like(src)
    encoded = model.apply({"params": params}, src, seg, method=model.encode)
    return encoded, seg, empty_cache(model, encoded, seg, slots)


def empty_cache(model: nn.Module, encoded: jax.Array, seg: jax.Array, slots: int):
    """A zero decoder cache with `slots` self-attention positions for the batch of `encoded` [B, S, d]."""
    shapes = jax.eval_shape(
        lambda: model.init(
            jax.random.PRNGKey(0), jnp.zeros((seg.shape[0], slots), jnp.int32), encoded, seg, method=model.decode_logits
        )["cache"]
    )
    return jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)


def make_step(model: nn.Module):
    """Jitted (params, cache, tokens [B, t], encoded or None, input segments) → (last logits [B, V], cache),
    one per model (compiled once per input shape however many decodes use it)."""

    def build():
        @jax.jit
        def step(params, cache, tokens, encoded, seg):
            logits, v = model.apply(
                {"params": params, "cache": cache}, tokens, encoded, seg, method=model.decode_logits, mutable=["cache"]
            )
            return logits[:, -1], v["cache"]

        return step

    return per_model(model, "step", build)


def generate(
    model: nn.Module,
    params,
    inputs: list[int],
    max_new_tokens: int,
    rng: jax.Array,
    start_id: int,
    temperature: float = 0.0,
    top_k: int = 0,
    top_p: float = 1.0,
    eos_id: int = EOS_ID,
) -> list[int]:
    """Greedy (temperature 0) or sampled decoding of one input; `model` is built with decode=True."""
    _check(inputs, max_new_tokens, model)
    check_sampling_options(max_new_tokens, temperature, top_k, top_p, model.cfg.vocab_size)
    params = jax.device_put(params)  # once: host (numpy) params would be copied to the device at every step
    encoded, seg, cache = start_decoding(model, params, inputs, 1, max_new_tokens)
    step = make_step(model)
    token, out = jnp.full((1, 1), start_id, jnp.int32), []
    for i in range(max_new_tokens):
        logits, cache = step(params, cache, token, encoded if i == 0 else None, seg)
        token = sample_logits(logits, jax.random.fold_in(rng, i), temperature, top_k, top_p)[:, None].astype(jnp.int32)
        out.append(int(token[0, 0]))
        if out[-1] == eos_id:
            break
    return out


def greedy_decoder(model: nn.Module) -> Callable[..., list[list[int]]]:
    """decode(params, inputs [B, S], segment_ids [B, S], max_new_tokens, start_id, eos_id=EOS_ID): greedy
    decoding of a batch of right-padded inputs at once; per row, the ids up to and including the first eos (or
    `max_new_tokens` ids). `model` is built with decode=True; the jitted functions are reused across calls."""
    step = make_step(model)
    encode = jax.jit(lambda params, src, seg: model.apply({"params": params}, src, seg, method=model.encode))
    caches = {}  # (batch, slots) -> an empty cache (its shapes are traced once)

    def decode(
        params, inputs: np.ndarray, segment_ids: np.ndarray, max_new_tokens: int, start_id: int, eos_id: int = EOS_ID
    ) -> list[list[int]]:
        src, seg = jnp.asarray(inputs, jnp.int32), jnp.asarray(segment_ids, jnp.int32)
        encoded = encode(params, src, seg)
        key = (len(inputs), max_new_tokens)
        if key not in caches:
            caches[key] = empty_cache(model, encoded, seg, max_new_tokens)
        cache = caches[key]
        token = jnp.full((len(inputs), 1), start_id, jnp.int32)
        out = np.zeros((len(inputs), 0), np.int64)
        for i in range(max_new_tokens):
            logits, cache = step(params, cache, token, encoded if i == 0 else None, seg)
            token = jnp.argmax(logits, -1)[:, None].astype(jnp.int32)
            out = np.concatenate([out, np.asarray(token)], 1)
            if np.all(np.any(out == eos_id, 1)):
                break
        return [row[: list(row).index(eos_id) + 1].tolist() if eos_id in row else row.tolist() for row in out]

    return decode


def beam_search(
    model: nn.Module,
    params,
    inputs: list[int],
    beam: int,
    max_new_tokens: int,
    start_id: int,
    length_penalty: float = 1.0,
    eos_id: int = EOS_ID,
) -> list[int]:
    """The best of `beam` hypotheses by total log-prob / length**length_penalty; stops once `beam` hypotheses
    have ended with eos (a hypothesis ends only when eos ranks among the top `beam` candidates)."""
    _check(inputs, max_new_tokens, model)
    if beam < 1:
        raise UserError(f"--beam {beam} must be ≥ 1")
    params = jax.device_put(params)  # once, as in generate
    encoded, seg, cache = start_decoding(model, params, inputs, beam, max_new_tokens)
    step = make_step(model)
    scores = np.full(beam, -np.inf)
    scores[0] = 0.0  # all rows start identical: expand only the first
    seqs = np.zeros((beam, 0), np.int64)
    tokens, finished = jnp.full((beam, 1), start_id, jnp.int32), []
    for t in range(max_new_tokens):
        logits, cache = step(params, cache, tokens, encoded if t == 0 else None, seg)
        logp = np.asarray(jax.nn.log_softmax(logits.astype(jnp.float32), -1), np.float64)
        total = (scores[:, None] + logp).reshape(-1)
        alive = []  # (parent row, token, score) of the best non-eos continuations
        for rank, idx in enumerate(np.argsort(-total, kind="stable")[: 2 * beam]):
            b, v = divmod(int(idx), logp.shape[1])
            if v == eos_id:
                if rank < beam:
                    finished.append((total[idx] / (t + 1) ** length_penalty, list(seqs[b]) + [v]))
            else:
                alive.append((b, v, total[idx]))
            if len(alive) == beam:
                break
        if len(finished) >= beam:
            break
        parents, next_tokens, scores = (np.asarray(a) for a in zip(*alive))
        cache = jax.tree_util.tree_map(lambda x: x[parents] if x.ndim == 4 else x, cache)
        seqs = np.concatenate([seqs[parents], next_tokens[:, None]], 1)
        tokens = jnp.asarray(next_tokens, jnp.int32)[:, None]
    else:
        finished += [(s / seqs.shape[1] ** length_penalty, list(q)) for s, q in zip(scores, seqs)]
    return [int(v) for v in max(finished, key=lambda f: f[0])[1]]
