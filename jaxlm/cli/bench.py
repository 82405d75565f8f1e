"""`jaxlm bench`: measure a config's training step and print one JSON object."""

import json

from jaxlm.cli.train import resolve_config
from jaxlm.errors import UserError


def register(sub) -> None:
    p = sub.add_parser("bench", help="measure a config's train step as JSON: --memory --config FILE [--config.a.b=v]")
    p.add_argument("--config", required=True, help="experiment module with get_config()")
    p.add_argument("--memory", action="store_true",
                   help="bytes of params, grads, optimizer state and XLA's temp memory for one train step")
    p.set_defaults(run=run_bench)


def run_bench(args, overrides) -> int:
    if not args.memory:
        raise UserError("jaxlm bench: choose what to measure, e.g. --memory")
    from jaxlm.bench.memory import memory_report
    cfg = resolve_config(args.config, overrides)
    print(json.dumps(memory_report(cfg)))
    return 0
