"""`jaxlm generate`: sample a continuation of a prompt from a trained workdir."""

import jax


def register(sub) -> None:
    p = sub.add_parser("generate", help="sample text from a trained workdir")
    p.add_argument("--workdir", required=True)
    p.add_argument("--prompt", default="\n")
    p.add_argument("--max-new-tokens", type=int, default=200)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--top-k", type=int, default=0)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=run_generate)


def sample_text(run, prompt: str, max_new_tokens: int, temperature: float, top_k: int, top_p: float,
                seed: int) -> str:
    """The prompt followed by its sampled continuation, decoded."""
    from jaxlm.data.tokenizer import EOS_ID
    from jaxlm.generate.sampling import check_sampling_args, generate
    from jaxlm.registry import build_model
    tok = run.corpus.tokenizer
    ids = tok.encode(prompt)
    check_sampling_args(len(ids), max_new_tokens, run.cfg.model.max_len, temperature, top_k, top_p)
    params = jax.device_get(run.state.params)
    new = generate(build_model(run.cfg, decode=True), params, ids, max_new_tokens, jax.random.PRNGKey(seed),
                   temperature, top_k, top_p, EOS_ID)
    return tok.decode(ids + new)


def run_generate(args, overrides) -> int:
    from jaxlm.cli.train import restored_run
    print(sample_text(restored_run(args.workdir, overrides), args.prompt, args.max_new_tokens, args.temperature, args.top_k, args.top_p,
                      args.seed))
    return 0
