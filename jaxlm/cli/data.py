"""`jaxlm data preview` and `jaxlm data export`: see exactly what a config feeds the model."""

import json
import os

import numpy as np


def register(sub) -> None:
    p = sub.add_parser("data", help="inspect a config's data")
    dsub = p.add_subparsers(dest="data_command", required=True, parser_class=type(p))
    q = dsub.add_parser("preview", help="print N model-ready training examples as JSON lines")
    q.add_argument("--config", required=True)
    q.add_argument("--num", type=int, default=4)
    q.set_defaults(run=run_preview)
    q = dsub.add_parser("export", help="write the exact text of one split")
    q.add_argument("--config", required=True)
    q.add_argument("--split", choices=("train", "val", "test"), default="val")
    q.add_argument("--out", required=True)
    q.set_defaults(run=run_export)


def run_preview(args, overrides) -> int:
    """The first N training examples exactly as the model sees them (same seed, order and transform)."""
    from jaxlm.cli.train import resolve_config
    from jaxlm.data.dataset import example_dataset, load_corpus, prepare
    cfg = resolve_config(args.config, overrides)
    prepared = prepare(load_corpus(cfg), cfg, "train", train=True)
    examples = example_dataset(prepared, cfg.train.seed)
    for i in range(args.num):
        ex = examples[i]
        out = {k: np.asarray(v).tolist() for k, v in ex.items()}
        print(json.dumps({**out, **prepared.describe(ex)}, ensure_ascii=False))
    return 0


def run_export(args, overrides) -> int:
    from jaxlm.cli.train import resolve_config
    from jaxlm.data.dataset import load_splits
    from jaxlm.errors import UserError
    cfg = resolve_config(args.config, overrides)
    docs = load_splits(cfg.data)[args.split]
    if os.path.exists(args.out):
        raise UserError(f"'{args.out}' already exists: choose another --out (nothing is overwritten)")
    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("".join(d.text for d in docs))
    os.replace(tmp, args.out)
    print(f"wrote {len(docs)} documents of split '{args.split}' to {args.out}")
    return 0
