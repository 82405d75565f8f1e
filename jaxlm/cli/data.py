"""`jaxlm data prepare`, `preview` and `export`: tokenize a corpus once, and see exactly what a config feeds the model."""

import json
import os

import numpy as np


def register(sub) -> None:
    p = sub.add_parser("data", help="prepare and inspect a config's data")
    dsub = p.add_subparsers(dest="data_command", required=True, parser_class=type(p))
    q = dsub.add_parser("prepare", help="tokenize the configured source into a token store (once)")
    q.add_argument("--config", required=True)
    q.add_argument("--out", default=None, help="folder of the store (default: the cache, where `jaxlm train` looks)")
    q.add_argument("--force", action="store_true", help="rebuild an --out store made from other data or settings")
    q.set_defaults(run=run_prepare)
    q = dsub.add_parser("preview", help="print N model-ready training examples as JSON lines")
    q.add_argument("--config", required=True)
    q.add_argument("--num", type=int, default=4)
    q.set_defaults(run=run_preview)
    q = dsub.add_parser("export", help="write the exact text of one split")
    q.add_argument("--config", required=True)
    q.add_argument("--split", choices=("train", "val", "test"), default="val")
    q.add_argument("--out", required=True)
    q.set_defaults(run=run_export)


def run_prepare(args, overrides) -> int:
    from jaxlm.cli.train import resolve_config
    from jaxlm.data.prepare import ensure_store
    from jaxlm.objectives import SENTENCE_OBJECTIVES
    cfg = resolve_config(args.config, overrides)
    store = ensure_store(cfg, None, cfg.data.objective in SENTENCE_OBJECTIVES, progress=cfg.train.progress,
                         out=args.out, force=args.force)
    counts = {name: {k: s.entry[k] for k in ("docs", "tokens", "bytes")} for name, s in store.splits.items()}
    print(json.dumps(dict(store=store.path, **counts)))
    return 0


def run_preview(args, overrides) -> int:
    """The first N training examples exactly as the model sees them (same seed, order and transform)."""
    from jaxlm.cli.train import resolve_config
    from jaxlm.data.dataset import example_dataset, load_corpus, prepare
    from jaxlm.errors import UserError
    if args.num < 1:
        raise UserError(f"--num {args.num} must be at least 1: pass e.g. --num 4")
    cfg = resolve_config(args.config, overrides)
    prepared = prepare(load_corpus(cfg, progress=cfg.train.progress), cfg, "train", train=True)
    examples = example_dataset(prepared, cfg.train.seed)
    for i in range(args.num):
        ex = examples[i]
        out = {k: np.asarray(v).tolist() for k, v in ex.items()}
        print(json.dumps({**out, **prepared.describe(ex)}, ensure_ascii=False))
    return 0


def run_export(args, overrides) -> int:
    """The split's documents decoded from the token store (the tokenizer is lossless, so this is their text)."""
    from jaxlm.cli.train import resolve_config
    from jaxlm.data.dataset import load_corpus
    from jaxlm.errors import UserError
    if os.path.exists(args.out):
        raise UserError(f"'{args.out}' already exists: choose another --out (nothing is overwritten)")
    folder = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        raise UserError(f"cannot write --out '{args.out}': folder '{folder}' does not exist or is not writable")
    cfg = resolve_config(args.config, overrides)
    docs = load_corpus(cfg, progress=cfg.train.progress).splits[args.split].docs
    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(d.text for d in docs)
    os.replace(tmp, args.out)
    print(f"wrote {len(docs)} documents of split '{args.split}' to {args.out}")
    return 0
