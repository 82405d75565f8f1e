"""`jaxlm data prepare`, `preview` and `export`: tokenize a corpus once, and see exactly what a config feeds the model."""

import json

import numpy as np

from jaxlm import checks


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
    q.add_argument("--force", action="store_true", help="replace an existing --out file")
    q.set_defaults(run=run_export)


def run_prepare(args, overrides) -> int:
    from jaxlm.data.prepare import ensure_store
    from jaxlm.objectives import SENTENCE_OBJECTIVES
    from jaxlm.train.workdir import resolve_config
    if args.out is not None:
        checks.output_folder(args.out, "--out", force=True)
    cfg = resolve_config(args.config, overrides)
    store = ensure_store(cfg, None, cfg.data.objective in SENTENCE_OBJECTIVES, progress=cfg.train.progress,
                         out=args.out, force=args.force)
    counts = {name: {k: s.entry[k] for k in ("docs", "tokens", "bytes")} for name, s in store.splits.items()}
    print(json.dumps(dict(store=store.path, **counts)))
    return 0


def run_preview(args, overrides) -> int:
    """The first N training examples exactly as the model sees them (same seed, order and transform)."""
    from jaxlm.pipeline.dataset import example_dataset, load_corpus, prepare
    from jaxlm.train.workdir import resolve_config
    checks.int_in_range(args.num, "--num", 1, None, 4)
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
    from jaxlm.pipeline.dataset import load_corpus
    from jaxlm.train.workdir import resolve_config
    checks.output_file(args.out, "--out", args.force)
    cfg = resolve_config(args.config, overrides)
    docs = load_corpus(cfg, progress=cfg.train.progress).splits[args.split].docs
    checks.write_output("".join(d.text for d in docs).encode("utf-8"), args.out, "--out")
    print(f"wrote {len(docs)} documents of split '{args.split}' to {args.out}")
    return 0
