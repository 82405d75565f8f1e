"""Autoregressive generation for decoder-only models with a KV cache: temperature, top-k, top-p."""

import jax
import jax.numpy as jnp

from jaxlm import checks
from jaxlm.errors import UserError
from jaxlm.generate.compiled import per_model

MAX_TEMPERATURE = 10.0  # beyond this sampling is uniform noise: a typo, not a setting
MIN_CACHE_SLOTS = 64  # the smallest decoding cache; sizes double from here up to the context


def cache_slots(needed: int, context: int) -> int:
    """Slots of the decoding cache for `needed` positions: the next power of two from MIN_CACHE_SLOTS, at most the
    model's context (a few sizes, so a few compiles, instead of a cache as long as the context every time)."""
    slots = MIN_CACHE_SLOTS
    while slots < needed:
        slots *= 2
    return min(slots, context)


def sample_logits(logits: jax.Array, rng: jax.Array, temperature: float, top_k: int, top_p: float) -> jax.Array:
    """One token id per row from [B, V] logits. temperature 0 = greedy."""
    if temperature == 0:
        return jnp.argmax(logits, -1)
    logits = logits / temperature
    if top_k:
        kth = jax.lax.top_k(logits, top_k)[0][:, -1:]
        logits = jnp.where(logits < kth, -jnp.inf, logits)
    if top_p < 1.0:
        sorted_logits = jnp.sort(logits, -1)[:, ::-1]
        cum = jnp.cumsum(jax.nn.softmax(sorted_logits, -1), -1)
        # Keep the smallest prefix whose mass reaches top_p (always at least the most likely token).
        cutoff_index = jnp.sum(cum < top_p, -1, keepdims=True)
        cutoff = jnp.take_along_axis(sorted_logits, cutoff_index, -1)
        logits = jnp.where(logits < cutoff, -jnp.inf, logits)
    return jax.random.categorical(rng, logits, -1)


def check_sampling_options(
    max_new_tokens: int, temperature: float, top_k: int, top_p: float, vocab_size: int | None = None
) -> None:
    """--max-new-tokens, --temperature, --top-k (at most the vocabulary) and --top-p in their ranges."""
    checks.int_in_range(max_new_tokens, "--max-new-tokens", 0, None, 200)
    checks.float_in_range(temperature, "--temperature", 0.0, MAX_TEMPERATURE, 0.8)
    checks.int_in_range(top_k, "--top-k", 0, vocab_size, 40)
    checks.float_in_range(top_p, "--top-p", 0.0, 1.0, 0.95, low_open=True)


def check_sampling_args(
    prompt_len: int,
    max_new_tokens: int,
    context: int,
    temperature: float,
    top_k: int,
    top_p: float,
    vocab_size: int | None = None,
) -> None:
    """The prompt fits the context, and the sampling options are in range."""
    if prompt_len < 1:
        raise UserError("the prompt is empty: pass --prompt with some text")
    if prompt_len >= context:
        raise UserError(
            f"the prompt is {prompt_len} tokens but the model's context is {context}: "
            f"shorten the prompt to fewer than {context} tokens"
        )
    check_sampling_options(max_new_tokens, temperature, top_k, top_p, vocab_size)


def generate(
    decode_model,
    params,
    prompt: list[int],
    max_new_tokens: int,
    rng: jax.Array,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    eos_id: int | None = None,
) -> list[int]:
    """Prefill the cache with the prompt, then sample one token at a time; returns the new token ids.

    The cache holds the prompt and the new tokens (`cache_slots`), up to the model's context; when the context fills
    up, the cache is rebuilt from the most recent half context (positions restart at 0, as they do for training
    rows that start mid-document), so any number of tokens can be sampled.
    """
    context = decode_model.cfg.max_len
    check_sampling_args(len(prompt), max_new_tokens, context, temperature, top_k, top_p, decode_model.cfg.vocab_size)
    slots = cache_slots(len(prompt) + max_new_tokens, context)
    params = jax.device_put(params)  # once: host (numpy) params would be copied to the device at every step
    shapes = jax.eval_shape(lambda: decode_model.init(jax.random.PRNGKey(0), jnp.zeros((1, slots), jnp.int32))["cache"])
    empty = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)

    def build():
        @jax.jit
        def step(params, cache, tokens, positions, rng):
            logits, vars_ = decode_model.apply({"params": params, "cache": cache}, tokens, positions, mutable=["cache"])
            return vars_["cache"], sample_logits(logits[:, -1], rng, temperature, top_k, top_p)

        return step

    step = per_model(decode_model, ("sample", temperature, top_k, top_p), build)

    def prefill(window: list[int], rng):
        tokens = jnp.asarray([window], jnp.int32)
        return step(params, empty, tokens, jnp.arange(len(window))[None], rng)

    history, out = list(prompt), []
    cache, token = prefill(history, jax.random.fold_in(rng, 0))
    position = len(history)
    for i in range(max_new_tokens):
        out.append(int(token[0]))
        history.append(out[-1])
        if out[-1] == eos_id or i == max_new_tokens - 1:
            break
        step_rng = jax.random.fold_in(rng, i + 1)
        if position == slots:  # only when the cache is the whole context
            window = history[-(context // 2) :]
            cache, token = prefill(window, step_rng)
            position = len(window)
        else:
            cache, token = step(params, cache, token[:, None].astype(jnp.int32), jnp.asarray([[position]]), step_rng)
            position += 1
    return out
