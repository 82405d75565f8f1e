"""`jaxlm tokenizer train|encode|decode`."""

import json
import os


def register(sub) -> None:
    p = sub.add_parser("tokenizer", help="train or apply the sentencepiece tokenizer")
    tsub = p.add_subparsers(dest="tokenizer_command", required=True, parser_class=type(p))
    q = tsub.add_parser("train", help="train on a sample of a config's training split (cached); write it to --out")
    q.add_argument("--config", required=True)
    q.add_argument("--out", required=True, help="path of the .model file to write")
    q.set_defaults(run=run_train)
    q = tsub.add_parser("encode", help="text → ids (JSON list)")
    q.add_argument("--model", required=True, help="a .model file (e.g. WORKDIR/tokenizer.model)")
    q.add_argument("--text", required=True)
    q.set_defaults(run=run_encode)
    q = tsub.add_parser("decode", help="ids → text")
    q.add_argument("--model", required=True)
    q.add_argument("--ids", required=True, help="JSON list or space-separated ids")
    q.set_defaults(run=run_decode)


def run_train(args, overrides) -> int:
    from jaxlm.cli.train import resolve_config
    from jaxlm.data.prepare import Plan, scan, tokenizer_sample, write_atomic
    from jaxlm.data.tokenizer import Tokenizer, TokenizerSpec, train_tokenizer
    from jaxlm.errors import UserError
    from jaxlm.objectives import SENTENCE_OBJECTIVES
    if os.path.exists(args.out):
        raise UserError(f"'{args.out}' already exists: choose another --out (nothing is overwritten)")
    folder = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(folder):
        raise UserError(f"cannot write --out '{args.out}': folder '{folder}' does not exist")
    cfg = resolve_config(args.config, overrides)
    plan = Plan.from_config(cfg.data, cfg.data.objective in SENTENCE_OBJECTIVES)
    texts = tokenizer_sample(plan, scan(plan, cfg.train.progress), cfg.data.tokenizer_sample_bytes, cfg.data.split_seed)
    path = train_tokenizer(texts, TokenizerSpec(cfg.model.vocab_size, cfg.data.tokenizer))
    write_atomic(Tokenizer(path).to_bytes(), args.out)
    print(f"wrote {args.out} (vocabulary {cfg.model.vocab_size}, trained on {len(texts)} training documents)")
    return 0


def run_encode(args, overrides) -> int:
    from jaxlm.data.tokenizer import Tokenizer
    print(json.dumps(Tokenizer(args.model).encode(args.text)))
    return 0


def run_decode(args, overrides) -> int:
    from jaxlm.data.tokenizer import Tokenizer
    from jaxlm.errors import UserError
    text = args.ids.strip()
    try:
        ids = json.loads(text) if text.startswith("[") else [int(t) for t in text.split()]
    except ValueError:
        raise UserError(f"--ids {args.ids!r} is not a list of integers: pass e.g. --ids '[12, 7, 99]'") from None
    print(Tokenizer(args.model).decode(ids))
    return 0
