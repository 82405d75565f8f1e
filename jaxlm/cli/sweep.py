"""`jaxlm sweep`: every variant × seed of an ablation module, resumable, then results.csv, report.md and plots."""

import sys

from jaxlm import checks, io
from jaxlm.errors import UserError


def register(sub) -> None:
    """Add `jaxlm sweep` to the subcommands."""
    p = sub.add_parser(
        "sweep",
        help="run an ablation (variants × seeds) and write its report: "
        "--config experiments/ablations/NAME.py --workdir DIR [--scale cpu]",
    )
    p.add_argument("--config", help="ablation module with get_config(scale) and get_variants(scale)")
    p.add_argument("--workdir", required=True, help="sweep dir (runs/VARIANT/seed_S/; re-running resumes)")
    p.add_argument("--scale", default="cpu", choices=("cpu", "accelerator"), help="size preset passed to the module")
    p.add_argument("--only", nargs="+", metavar="VARIANT", help="run only these variants (the rest stay to do)")
    p.add_argument(
        "--report-only",
        action="store_true",
        help="rewrite the report of the finished runs, train nothing (with --config: take the module's "
        "claims and description first)",
    )
    p.set_defaults(run=run_sweep_command)


def run_sweep_command(args, overrides) -> int:
    """Run the missing runs (unless --report-only), then write and print the report."""
    from jaxlm.sweep.report import write_report

    if not args.report_only:
        if not args.config:
            raise UserError("jaxlm sweep needs --config experiments/ablations/NAME.py (or --report-only)")
        from jaxlm.sweep.runner import run_sweep
        from jaxlm.sweep.spec import load_sweep

        sweep = load_sweep(args.config, args.scale, overrides)
        checks.run_folder(args.workdir, "--workdir")
        with checks.undone_on_error(args.workdir, "config.json"):
            run_sweep(sweep, args.workdir, args.only, log=lambda line: print(line, flush=True), compilation_cache=True)
    elif overrides or args.only:
        raise UserError("--report-only takes only --workdir and --config: drop --only and --config.* overrides")
    elif args.config:
        from jaxlm.sweep.runner import record_claims
        from jaxlm.sweep.spec import load_sweep

        record_claims(load_sweep(args.config, args.scale), args.workdir)
    report = write_report(args.workdir)
    print(report.tables)
    for error in report.errors:
        print(f"jaxlm: warning: {error}", file=sys.stderr)
    print(f"report: {io.join(args.workdir, 'report.md')} (results.csv, plots/)")
    return 0
