"""`jaxlm convert --from-hf DIR --out DIR`: import a Hugging Face checkpoint as jaxlm params + config;
`jaxlm export --workdir DIR --to-hf DIR`: a trained run's newest checkpoint as a Hugging Face model directory."""

from jaxlm import checks, io


def register(sub) -> None:
    p = sub.add_parser("convert", help="convert a local Hugging Face checkpoint into jaxlm params and config")
    p.add_argument("--from-hf", required=True, help="directory with config.json and model.safetensors/pytorch_model.bin")
    p.add_argument("--out", required=True, help="new directory: config.json + params/ (orbax) + tokenizer.model")
    p.add_argument("--force", action="store_true", help="replace an --out written by an earlier `jaxlm convert`")
    p.set_defaults(run=run_convert, config_overrides=False)
    e = sub.add_parser("export", help="write a trained run's newest checkpoint as a Hugging Face model directory")
    e.add_argument("--workdir", required=True, help="a workdir written by `jaxlm train`")
    e.add_argument("--to-hf", dest="out", required=True,
                   help="new directory: config.json + model.safetensors (+ tokenizer.json, tokenizer_config.json, "
                        "special_tokens_map.json)")
    e.add_argument("--force", action="store_true", help="replace a --to-hf written by an earlier `jaxlm export`")
    e.set_defaults(run=run_export, config_overrides=False)


def run_convert(args, overrides) -> int:
    import jax

    from jaxlm.data.tokenizer import Tokenizer
    from jaxlm.interop import CONVERTED_ENTRIES, hf_tokenizer, import_hf, save_converted
    from jaxlm.io.cache import local_copy
    from jaxlm.io.staging import staged_folder
    checks.input_folder(args.from_hf, "--from-hf", "a Hugging Face model directory (config.json + weights)")
    checks.output_folder(args.out, "--out", args.force, CONVERTED_ENTRIES)
    hf_dir = local_copy(args.from_hf, "--from-hf")
    model_cfg, params = import_hf(hf_dir)
    tokenizer = hf_tokenizer(hf_dir)
    if tokenizer is not None:  # refuse a tokenizer that does not load now, not when training starts
        Tokenizer.from_bytes(tokenizer)
    with staged_folder(args.out) as out:
        save_converted(out, model_cfg, params, tokenizer)
    n = sum(x.size for x in jax.tree_util.tree_leaves(params))
    print(f"wrote {args.out}: {model_cfg.family} {model_cfg.n_layers}×{model_cfg.d_model}, {n:,} parameters "
          "(config.json + params/)")
    return 0


def run_export(args, overrides) -> int:
    import jax
    import ml_collections

    from jaxlm.interop import EXPORTED_ENTRIES, HF_EXPORTERS, export_hf
    from jaxlm.io.staging import staged_folder
    from jaxlm.sharding.mesh import make_mesh
    from jaxlm.train.pretrained import newest_params
    from jaxlm.train.workdir import workdir_config
    cfg = workdir_config(args.workdir)
    checks.output_folder(args.out, "--to-hf", args.force, EXPORTED_ENTRIES)
    if cfg.model.family not in HF_EXPORTERS:  # before restoring anything
        export_hf(args.out, cfg.model, {})
    params = newest_params(args.workdir, make_mesh(ml_collections.ConfigDict(dict(data=1, fsdp=1, tensor=1))),
                           "--workdir")
    path = io.join(args.workdir, "tokenizer.model")
    tokenizer = io.read_bytes(path) if io.is_file(path) else None
    with staged_folder(args.out) as out:
        export_hf(out, cfg.model, jax.device_get(params), tokenizer, cfg.data.get("tokenizer_specials", ""))
    print(f"wrote {args.out}: Hugging Face {cfg.model.family} {cfg.model.n_layers}×{cfg.model.d_model} "
          f"({', '.join(io.listdir(args.out))})")
    return 0
