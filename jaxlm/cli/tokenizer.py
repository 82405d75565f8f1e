"""`jaxlm tokenizer train|encode|decode`."""

import json

from jaxlm import checks
from jaxlm.cli import config_verb, verb_group


def register(sub) -> None:
    tsub = verb_group(sub, "tokenizer", "train or apply a tokenizer")
    q = config_verb(
        tsub, "train", "train on a sample of a config's training split (cached); write it to --out", run_train
    )
    q.add_argument(
        "--out",
        required=True,
        help="path of the file to write (a .model, or a tokenizer.json with data.tokenizer_trainer=hf_bpe)",
    )
    q.add_argument("--force", action="store_true", help="replace an existing --out file")
    q = tsub.add_parser("encode", help="text → ids (JSON list)")
    q.add_argument("--model", required=True, help="a .model file (e.g. WORKDIR/tokenizer.model)")
    q.add_argument("--text", required=True)
    q.set_defaults(run=run_encode, config_overrides=False)
    q = tsub.add_parser("decode", help="ids → text")
    q.add_argument("--model", required=True)
    q.add_argument("--ids", required=True, help="JSON list or space-separated ids")
    q.set_defaults(run=run_decode, config_overrides=False)


def run_train(args, overrides) -> int:
    from jaxlm.data.prepare import Plan, sample_for, scan, train_configured
    from jaxlm.data.tokenizer import Tokenizer
    from jaxlm.objectives import objective
    from jaxlm.train.workdir import resolve_config

    checks.output_file(args.out, "--out", args.force)
    cfg = resolve_config(args.config, overrides)
    plan = Plan.from_config(cfg.data, objective(cfg.data.objective).sentences)
    texts = sample_for(plan, scan(plan, cfg.train.progress), cfg, cfg.train.progress)
    path = train_configured(texts, cfg, cfg.train.progress)
    checks.write_output(Tokenizer(path).to_bytes(), args.out, "--out")
    print(f"wrote {args.out} (vocabulary {cfg.model.vocab_size}, trained on {len(texts)} training documents)")
    return 0


def _tokenizer(path: str):
    from jaxlm.data.tokenizer import Tokenizer
    from jaxlm.io.cache import local_copy

    checks.input_file(path, "--model", "a tokenizer .model file (e.g. WORKDIR/tokenizer.model)")
    return Tokenizer(local_copy(path, "--model", progress=False))  # a bucket's tokenizer: its local copy


def run_encode(args, overrides) -> int:
    text = checks.utf8_text(args.text, "--text")
    print(json.dumps(_tokenizer(args.model).encode(text)))
    return 0


def run_decode(args, overrides) -> int:
    tok = _tokenizer(args.model)
    print(tok.decode(checks.id_list(args.ids, "--ids", tok.vocab_size)))
    return 0
