"""`jaxlm bench --generate`: a decoder-only model's KV-cache greedy decoding speed after compilation.

Random parameters of the config's model (the speed does not depend on their values) decode `new_tokens` greedy
tokens after a random prompt of `prompt_len` tokens with `jaxlm.generate.sampling.generate`, the function behind
`jaxlm generate`: a first call compiles (prefill and one-token step), the median of `rounds` later calls is timed.
"""

import statistics
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxlm.errors import UserError
from jaxlm.generate.sampling import cache_slots, generate
from jaxlm.registry import build_model, family, precision


def decode_report(cfg: ml_collections.ConfigDict, prompt_len: int, new_tokens: int, rounds: int = 3) -> dict:
    """decode_compile_s, decode_s (median whole call) and decode_tokens_per_s (new tokens / decode_s; the prompt's
    prefill included) with the settings they depend on."""
    if not family(cfg).generates_text:
        raise UserError(
            f"--generate times decoder-only models: the {cfg.model.family} family does not sample "
            "text with a KV cache (drop --generate)"
        )
    if prompt_len + 1 >= cfg.model.max_len:
        raise UserError(f"--prompt-len {prompt_len} leaves no room in the model's {cfg.model.max_len} positions")
    tokens = jnp.zeros((1, prompt_len), jnp.int32)
    params = nn.unbox(jax.jit(build_model(cfg).init)(jax.random.PRNGKey(0), tokens)["params"])
    model = build_model(cfg, decode=True)
    prompt = np.random.default_rng(0).integers(0, cfg.model.vocab_size, prompt_len).tolist()

    def run() -> float:
        start = time.perf_counter()
        generate(model, params, prompt, new_tokens, jax.random.PRNGKey(0), temperature=0.0)
        return time.perf_counter() - start

    compile_s = run()
    decode_s = statistics.median(run() for _ in range(rounds))
    return {
        "decode_prompt_len": prompt_len,
        "decode_new_tokens": new_tokens,
        "decode_precision": precision(cfg),
        "decode_cache_slots": cache_slots(prompt_len + new_tokens, cfg.model.max_len),
        "decode_compile_s": round(compile_s - decode_s, 3),
        "decode_s": round(decode_s, 4),
        "decode_tokens_per_s": round(new_tokens / decode_s, 2),
    }
