"""`jaxlm`'s command line: one module per verb (`main.py` assembles them)."""


def verb_group(sub, name: str, help: str):
    """`jaxlm NAME VERB ...`: the sub-parsers of a group of verbs (data, tokenizer), one of which is required."""
    p = sub.add_parser(name, help=help)
    return p.add_subparsers(dest=f"{name}_command", required=True, parser_class=type(p))


def config_verb(group, name: str, help: str, run):
    """A verb of a group that reads an experiment config (--config FILE, with --config.a.b=v overrides)."""
    q = group.add_parser(name, help=help)
    q.add_argument("--config", required=True)
    q.set_defaults(run=run)
    return q
