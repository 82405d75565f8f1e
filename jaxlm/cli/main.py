"""`jaxlm` command line: one verb per task (listed below; `jaxlm VERB --help` for each). Bad input → one line on
stderr, exit 2."""

import argparse
import os
import sys

from jaxlm.errors import UserError
from jaxlm.train.nonfinite import DIVERGED_EXIT_CODE, Diverged
from jaxlm.train.preemption import PREEMPTED_EXIT_CODE, Preempted


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, status 2, like every other bad input; "jaxlm: error: train: ..."
        verb = self.prog.removeprefix("jaxlm").strip()
        raise UserError(f"{verb + ': ' if verb else ''}{message} (see --help)")


def _parser() -> argparse.ArgumentParser:
    from jaxlm import projects
    from jaxlm.cli import (
        aot,
        bench,
        convert,
        data,
        generate,
        sweep,
        tokenizer,
        train,
    )

    p = _Parser(prog="jaxlm", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for module in (train, generate, data, tokenizer, bench, convert, aot, sweep, *projects.VERBS):
        module.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        from jaxlm.config.loading import split_overrides

        rest, overrides = split_overrides(argv)
        args = _parser().parse_args(rest)
        args.argv = argv  # a multi-process train re-runs itself under a supervisor (jaxlm.sharding.supervisor)
        if overrides and not getattr(args, "config_overrides", True):
            raise UserError(f"this command takes no --config.* overrides (got --config.{overrides[0][0]}): drop them")
        return args.run(args, overrides) or 0
    except UserError as e:
        print(f"jaxlm: error: {e}", file=sys.stderr)
        return 2
    except Preempted as e:
        print(f"jaxlm: {e}", file=sys.stderr)
        return PREEMPTED_EXIT_CODE
    except Diverged as e:
        print(f"jaxlm: error: {e}", file=sys.stderr)
        return DIVERGED_EXIT_CODE
    except KeyboardInterrupt:
        print("jaxlm: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
