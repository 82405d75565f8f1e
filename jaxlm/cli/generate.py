"""`jaxlm generate`: sample a continuation of a prompt (GPT), or decode an output for an input (T5, BART)."""

from jaxlm import checks


def register(sub) -> None:
    p = sub.add_parser("generate", help="sample text from a trained workdir")
    p.add_argument("--workdir", required=True)
    p.add_argument("--prompt", default="\n", help="decoder-only models: the text to continue")
    p.add_argument(
        "--input",
        default=None,
        help="encoder-decoder models: the input text; <extra_id_N> and [MASK] become sentinel / mask ids",
    )
    p.add_argument("--max-new-tokens", type=int, default=200)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--top-k", type=int, default=0)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--beam", type=int, default=0, help="encoder-decoder models: beam size (0 = sample)")
    p.add_argument("--length-penalty", type=float, default=1.0, help="beam score = log-prob / length**this")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=run_generate)


def check_generate_args(args, cfg) -> None:
    """Every `jaxlm generate` argument, against the workdir's config, before its checkpoint is read."""
    from jaxlm.errors import UserError
    from jaxlm.generate.sampling import check_sampling_options
    from jaxlm.registry import family

    fam = family(cfg)
    if not (fam.generates_text or fam.encoder_decoder):
        raise UserError(
            f"workdir '{args.workdir}' holds a {cfg.model.family} model, an encoder that does not generate "
            "text: give a workdir of a decoder (gpt) or an encoder-decoder (t5, bart)"
        )
    seq2seq = fam.encoder_decoder
    if seq2seq != (args.input is not None):
        raise UserError("encoder-decoder workdirs (t5, bart) take --input TEXT; other workdirs take --prompt TEXT")
    if not seq2seq and (args.beam or args.length_penalty != 1.0):
        raise UserError("--beam and --length-penalty are for encoder-decoder workdirs (t5, bart): drop them")
    flag, text = ("--input", args.input) if seq2seq else ("--prompt", args.prompt)
    if not text:
        raise UserError(f"{flag} is empty: pass some text, e.g. {flag} 'ROMEO:'")
    checks.utf8_text(text, flag)
    check_sampling_options(args.max_new_tokens, args.temperature, args.top_k, args.top_p, cfg.model.vocab_size)
    checks.int_in_range(args.beam, "--beam", 0, cfg.model.vocab_size, 4)
    checks.float_in_range(args.length_penalty, "--length-penalty", -10.0, 10.0, 1.0)
    checks.int_in_range(args.seed, "--seed", 0, 2**32 - 1, 0)


def run_generate(args, overrides) -> int:
    from jaxlm.generate.text import sample_text, seq2seq_text
    from jaxlm.train.workdir import restored_model, workdir_config

    check_generate_args(args, workdir_config(args.workdir, overrides))
    cfg, params, tokenizer = restored_model(args.workdir, overrides)
    if args.input is not None:
        print(
            seq2seq_text(
                cfg,
                params,
                tokenizer,
                text=args.input,
                max_new_tokens=args.max_new_tokens,
                temperature=args.temperature,
                top_k=args.top_k,
                top_p=args.top_p,
                beam=args.beam,
                length_penalty=args.length_penalty,
                seed=args.seed,
            )
        )
    else:
        print(
            sample_text(
                cfg,
                params,
                tokenizer,
                prompt=args.prompt,
                max_new_tokens=args.max_new_tokens,
                temperature=args.temperature,
                top_k=args.top_k,
                top_p=args.top_p,
                seed=args.seed,
            )
        )
    return 0
