"""`jaxlm convert --from-hf DIR --out DIR`: import a Hugging Face checkpoint as jaxlm params + config."""


def register(sub) -> None:
    p = sub.add_parser("convert", help="convert a local Hugging Face checkpoint into jaxlm params and config")
    p.add_argument("--from-hf", required=True, help="directory with config.json and model.safetensors/pytorch_model.bin")
    p.add_argument("--out", required=True, help="new directory: config.json + params/ (orbax)")
    p.set_defaults(run=run_convert)


def run_convert(args, overrides) -> int:
    import jax

    from jaxlm.interop import import_hf, save_converted
    model_cfg, params = import_hf(args.from_hf)
    save_converted(args.out, model_cfg, params)
    n = sum(x.size for x in jax.tree_util.tree_leaves(params))
    print(f"wrote {args.out}: {model_cfg.family} {model_cfg.n_layers}×{model_cfg.d_model}, {n:,} parameters "
          "(config.json + params/)")
    return 0
