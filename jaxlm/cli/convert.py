"""`jaxlm convert --from-hf DIR --out DIR`: import a Hugging Face checkpoint as jaxlm params + config."""

from jaxlm import checks


def register(sub) -> None:
    p = sub.add_parser("convert", help="convert a local Hugging Face checkpoint into jaxlm params and config")
    p.add_argument("--from-hf", required=True, help="directory with config.json and model.safetensors/pytorch_model.bin")
    p.add_argument("--out", required=True, help="new directory: config.json + params/ (orbax)")
    p.add_argument("--force", action="store_true", help="replace an --out written by an earlier `jaxlm convert`")
    p.set_defaults(run=run_convert, config_overrides=False)


def run_convert(args, overrides) -> int:
    import jax

    from jaxlm.interop import CONVERTED_ENTRIES, import_hf, save_converted
    checks.input_folder(args.from_hf, "--from-hf", "a Hugging Face model directory (config.json + weights)")
    checks.output_folder(args.out, "--out", args.force, CONVERTED_ENTRIES)
    model_cfg, params = import_hf(args.from_hf)
    save_converted(args.out, model_cfg, params)
    n = sum(x.size for x in jax.tree_util.tree_leaves(params))
    print(f"wrote {args.out}: {model_cfg.family} {model_cfg.n_layers}×{model_cfg.d_model}, {n:,} parameters "
          "(config.json + params/)")
    return 0
