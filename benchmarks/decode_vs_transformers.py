"""Greedy KV-cache decoding, jaxlm against transformers, in one process: a random Llama of SmolLM2-135M's shape
(30 layers, width 576, 9 heads with 3 key/value heads, 49152 tokens, 8192 positions), saved by transformers and
imported by jaxlm (`jaxlm.interop.import_hf`), both in fp32 on the CPU.

    python benchmarks/decode_vs_transformers.py [--layers 30] [--prompt 8] [--new 32] [--rounds 3]
        [--cache-slots fitted max_len] [--out FILE.json]

`--cache-slots` names jaxlm's variants: `fitted` is `generate` as it is (the cache holds the prompt and the new
tokens, `jaxlm.generate.sampling.cache_slots`); `max_len` sizes the cache to the model's whole context, as
`generate` did before b04c3c4 (the only difference between the two: `cache_slots` answers the context). Each
variant and transformers first decode once untimed (jaxlm compiles its prefill and one-token step), then all
alternate for `rounds` rounds, the order rotating every round; a round times one whole greedy call of `new` tokens
after the same `prompt` random tokens (transformers: `generate(do_sample=False, min_new_tokens=new)`, with
`torch.set_num_threads(--threads)`). Prints (and writes to --out) one JSON object: per variant the median
seconds, tokens/s, ratio to transformers, cache slots and bytes, and whether it decoded transformers' tokens;
the load average before and after.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from jaxlm.generate import sampling
from jaxlm.interop import import_hf
from jaxlm.models.gpt import GPT

SMOLLM2_135M = dict(
    vocab_size=49152,
    hidden_size=576,
    intermediate_size=1536,
    num_attention_heads=9,
    num_key_value_heads=3,
    max_position_embeddings=8192,
    rope_theta=100000.0,
    rms_norm_eps=1e-5,
    tie_word_embeddings=True,
)
FITTED = sampling.cache_slots


def whole_context(needed: int, context: int) -> int:
    """`cache_slots` before b04c3c4: the whole context whatever is needed."""
    return context


SLOTS = {"fitted": FITTED, "max_len": whole_context}


def cache_bytes(model: GPT, slots: int) -> int:
    """Bytes of the decoding cache of `slots` slots (keys, values and the index variables)."""
    init = lambda: model.init(jax.random.PRNGKey(0), jnp.zeros((1, slots), jnp.int32))["cache"]  # noqa: E731
    return sum(s.size * s.dtype.itemsize for s in jax.tree_util.tree_leaves(jax.eval_shape(init)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layers", type=int, default=30)
    p.add_argument("--prompt", type=int, default=8)
    p.add_argument("--new", type=int, default=32)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--cache-slots", nargs="+", choices=sorted(SLOTS), default=["fitted"])
    p.add_argument("--out", help="also write the JSON here")
    args = p.parse_args()
    load_before = os.getloadavg()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    hf = LlamaForCausalLM(LlamaConfig(num_hidden_layers=args.layers, **SMOLLM2_135M)).eval()
    with tempfile.TemporaryDirectory() as d:
        hf.save_pretrained(d)
        cfg, params = import_hf(d)
    model = GPT(cfg, decode=True)
    prompt = np.random.default_rng(0).integers(0, cfg.vocab_size, args.prompt).tolist()

    def jaxlm_decode(variant: str) -> list[int]:
        sampling.cache_slots = SLOTS[variant]  # generate looks cache_slots up at each call
        try:
            return sampling.generate(model, params, prompt, args.new, jax.random.PRNGKey(0), temperature=0.0)
        finally:
            sampling.cache_slots = FITTED

    def hf_decode() -> list[int]:
        with torch.no_grad():
            out = hf.generate(
                torch.tensor([prompt]),
                attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                max_new_tokens=args.new,
                min_new_tokens=args.new,
                do_sample=False,
                pad_token_id=0,
            )
        return out[0, len(prompt) :].tolist()

    runs = {f"jaxlm_{v}": (lambda v=v: jaxlm_decode(v)) for v in args.cache_slots} | {"transformers": hf_decode}
    first_call_s, tokens = {}, {}
    for name, fn in runs.items():
        start = time.perf_counter()
        tokens[name] = fn()
        first_call_s[name] = round(time.perf_counter() - start, 2)
    times = {name: [] for name in runs}
    order = list(runs)
    for r in range(args.rounds):
        for name in order[r % len(order) :] + order[: r % len(order)]:
            start = time.perf_counter()
            runs[name]()
            times[name].append(round(time.perf_counter() - start, 4))
    median = {k: statistics.median(v) for k, v in times.items()}
    context = cfg.max_len
    variants = {
        v: {
            "cache_slots": SLOTS[v](args.prompt + args.new, context),
            "cache_bytes": cache_bytes(model, SLOTS[v](args.prompt + args.new, context)),
            "first_call_s": first_call_s[f"jaxlm_{v}"],
            "median_s": round(median[f"jaxlm_{v}"], 3),
            "tokens_per_s": round(args.new / median[f"jaxlm_{v}"], 2),
            "to_transformers": round(median["transformers"] / median[f"jaxlm_{v}"], 3),
            "same_tokens": tokens[f"jaxlm_{v}"] == tokens["transformers"],
        }
        for v in args.cache_slots
    }
    result = {
        "layers": args.layers,
        "prompt": args.prompt,
        "new_tokens": args.new,
        "rounds": args.rounds,
        "threads": args.threads,
        "context": context,
        "jaxlm": variants,
        "transformers_median_s": round(median["transformers"], 3),
        "transformers_tokens_per_s": round(args.new / median["transformers"], 2),
        "rounds_s": times,
        "commit": commit,
        "device": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, jax {jax.__version__} "
        f"{jax.default_backend()}, torch {torch.__version__}",
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(result))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
