"""`jaxlm convert --from-hf DIR --out DIR`: import a Hugging Face checkpoint as jaxlm params + config;
`jaxlm export --workdir DIR --to-hf DIR`: a trained run's newest checkpoint as a Hugging Face model directory."""

from jaxlm import checks, io


def register(sub) -> None:
    p = sub.add_parser("convert", help="convert a local Hugging Face checkpoint into jaxlm params and config")
    p.add_argument(
        "--from-hf", required=True, help="directory with config.json and model.safetensors/pytorch_model.bin"
    )
    p.add_argument("--out", required=True, help="new directory: config.json + params/ (orbax) + tokenizer.model")
    p.add_argument("--force", action="store_true", help="replace an --out written by an earlier `jaxlm convert`")
    p.set_defaults(run=run_convert, config_overrides=False)
    e = sub.add_parser("export", help="write a trained run's newest checkpoint as a Hugging Face model directory")
    e.add_argument("--workdir", required=True, help="a workdir written by `jaxlm train`")
    e.add_argument(
        "--to-hf",
        dest="out",
        required=True,
        help="new directory: config.json + model.safetensors (+ tokenizer.json, tokenizer_config.json, "
        "special_tokens_map.json)",
    )
    e.add_argument("--force", action="store_true", help="replace a --to-hf written by an earlier `jaxlm export`")
    e.set_defaults(run=run_export, config_overrides=False)


def run_convert(args, overrides) -> int:
    import jax

    from jaxlm.data.tokenizer import Tokenizer
    from jaxlm.interop import CONVERTED_ENTRIES, hf_tokenizer, import_hf, save_converted
    from jaxlm.io.cache import local_copy
    from jaxlm.io.staging import staged_folder
    from jaxlm.registry import natural_objective

    checks.input_folder(args.from_hf, "--from-hf", "a Hugging Face model directory (config.json + weights)")
    checks.output_folder(args.out, "--out", args.force, CONVERTED_ENTRIES)
    hf_dir = local_copy(args.from_hf, "--from-hf")
    model_cfg, params = import_hf(hf_dir)
    check_param_shapes(model_cfg, params, args.from_hf)
    tokenizer = hf_tokenizer(hf_dir)
    if tokenizer is not None:  # refuse a tokenizer that does not load now, not when training starts
        Tokenizer.from_bytes(tokenizer)
    with staged_folder(args.out) as out:
        save_converted(out, model_cfg, params, tokenizer, objective=natural_objective(model_cfg))
    n = sum(x.size for x in jax.tree_util.tree_leaves(params))
    print(
        f"wrote {args.out}: {model_cfg.family} {model_cfg.n_layers}×{model_cfg.d_model}, {n:,} parameters "
        "(config.json + params/)"
    )
    return 0


def check_param_shapes(model_cfg, params: dict, hf_dir: str) -> None:
    """Refuse, naming the first tensor, imported weights whose shapes are not those its config.json's dims give
    (an importer takes some tensors as they are, e.g. the embeddings, whatever the config says); a headless BERT
    has no MLM head (a fine-tune or an evaluation starts it afresh) and may keep its pooler."""
    import flax.linen as nn
    import jax

    from jaxlm.config.schema import base_config
    from jaxlm.errors import UserError
    from jaxlm.registry import build_model, family
    from jaxlm.train.state import abstract_params

    cfg = base_config()
    cfg.model = model_cfg
    cfg.data.seq_len = min(cfg.data.seq_len, model_cfg.max_len)
    expected = nn.unbox(abstract_params(build_model(cfg), family(cfg).init_args(cfg)))
    want, got = (
        {
            jax.tree_util.keystr(p, simple=True, separator="/"): x.shape
            for p, x in jax.tree_util.tree_flatten_with_path(tree)[0]
        }
        for tree in (expected, params)
    )
    if model_cfg.family == "bert" and "mlm_head" not in params:  # a headless BertModel (MiniLM): encoder + pooler
        d = model_cfg.d_model
        want = {k: v for k, v in want.items() if not k.startswith("mlm_head/")} | (
            {"pooler/kernel": (d, d), "pooler/bias": (d,)} if "pooler" in params else {}
        )
    for name in sorted(want.keys() | got.keys()):
        if want.get(name) != got.get(name):
            shown = "missing" if name not in got else f"of shape {got[name]}"
            raise UserError(
                f"the weights in '{hf_dir}' do not fit its config.json: parameter {name} is {shown} but "
                f"config.json's dims give {want.get(name, 'no such parameter')}: use the config.json the "
                "checkpoint was saved with"
            )


def run_export(args, overrides) -> int:
    import jax
    import ml_collections

    from jaxlm.interop import EXPORTED_ENTRIES, check_exportable, export_hf
    from jaxlm.io.staging import staged_folder
    from jaxlm.sharding.mesh import make_mesh
    from jaxlm.train.pretrained import newest_params
    from jaxlm.train.workdir import workdir_config

    cfg = workdir_config(args.workdir)
    checks.output_folder(args.out, "--to-hf", args.force, EXPORTED_ENTRIES)
    check_exportable(cfg.model)  # before restoring anything
    params = newest_params(
        args.workdir, make_mesh(ml_collections.ConfigDict(dict(data=1, fsdp=1, tensor=1))), "--workdir"
    )
    path = io.join(args.workdir, "tokenizer.model")
    tokenizer = io.read_bytes(path) if io.is_file(path) else None
    with staged_folder(args.out) as out:
        export_hf(out, cfg.model, jax.device_get(params), tokenizer, cfg.data.get("tokenizer_specials", ""))
    print(
        f"wrote {args.out}: Hugging Face {cfg.model.family} {cfg.model.n_layers}×{cfg.model.d_model} "
        f"({', '.join(io.listdir(args.out))})"
    )
    return 0
