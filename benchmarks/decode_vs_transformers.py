"""Greedy KV-cache decoding, jaxlm against transformers, in one process: a random Llama of SmolLM2-135M's shape
(30 layers, width 576, 9 heads with 3 key/value heads, 49152 tokens, 8192 positions), saved by transformers and
imported by jaxlm (`jaxlm.interop.import_hf`), both in fp32 on the CPU.

    python benchmarks/decode_vs_transformers.py [--layers 30] [--prompt 8] [--new 32] [--rounds 3]

Each framework first decodes once untimed (jaxlm compiles its prefill and one-token step), then they alternate
for `rounds` rounds, the order flipping every round; a round times one whole greedy call of `new` tokens after
the same `prompt` random tokens (transformers: `generate(do_sample=False, min_new_tokens=new)`, with
`torch.set_num_threads(--threads)`). Prints one JSON object: each one's median seconds and tokens/s, the ratio
jaxlm/transformers, and whether both decoded the same tokens.
"""

import argparse
import json
import statistics
import tempfile
import time

import jax
import numpy as np
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from jaxlm.generate.sampling import generate
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layers", type=int, default=30)
    p.add_argument("--prompt", type=int, default=8)
    p.add_argument("--new", type=int, default=32)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    hf = LlamaForCausalLM(LlamaConfig(num_hidden_layers=args.layers, **SMOLLM2_135M)).eval()
    with tempfile.TemporaryDirectory() as d:
        hf.save_pretrained(d)
        cfg, params = import_hf(d)
    model = GPT(cfg, decode=True)
    prompt = np.random.default_rng(0).integers(0, cfg.vocab_size, args.prompt).tolist()

    def jaxlm_decode() -> list[int]:
        return generate(model, params, prompt, args.new, jax.random.PRNGKey(0), temperature=0.0)

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

    start = time.perf_counter()
    mine = jaxlm_decode()
    first_call_s = time.perf_counter() - start
    theirs = hf_decode()
    times = {"jaxlm": [], "transformers": []}
    for r in range(args.rounds):
        for name, fn in (("jaxlm", jaxlm_decode), ("transformers", hf_decode))[:: 1 if r % 2 == 0 else -1]:
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    median = {k: statistics.median(v) for k, v in times.items()}
    print(
        json.dumps(
            {
                "layers": args.layers,
                "prompt": args.prompt,
                "new_tokens": args.new,
                "rounds": args.rounds,
                "jaxlm_first_call_s": round(first_call_s, 2),
                **{f"{k}_s": round(v, 3) for k, v in median.items()},
                **{f"{k}_tokens_per_s": round(args.new / v, 2) for k, v in median.items()},
                "jaxlm_to_transformers": round(median["transformers"] / median["jaxlm"], 3),
                "same_tokens": mine == theirs,
                "rounds_s": times,
            }
        )
    )


if __name__ == "__main__":
    main()
