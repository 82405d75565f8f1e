"""`config.data.objective` → its `Objective` record: a built-in name, or a project's 'package.module:attribute'."""

import importlib

from jaxlm.errors import UserError
from jaxlm.objectives import bart, bert_mlm_nsp, causal_lm, roberta_mlm, t5
from jaxlm.objectives.base import Objective

OBJECTIVES = {  # the built-in objectives' short names
    "causal_lm": causal_lm.OBJECTIVE,
    "bert_mlm_nsp": bert_mlm_nsp.OBJECTIVE,
    "roberta_mlm": roberta_mlm.OBJECTIVE,
    "t5_span_corruption": t5.SPAN_CORRUPTION,
    "t5_prefix_lm": t5.PREFIX_LM,
    "t5_iid_replace_spans": t5.IID_REPLACE_SPANS,
    "t5_iid_drop_tokens": t5.IID_DROP_TOKENS,
    "t5_bert_style": t5.BERT_STYLE,
    "bart_denoise": bart.OBJECTIVE,
}


def objective(name: str) -> Objective:
    """The record `name` names: a built-in short name, or 'package.module:attribute' (a research project's
    objective, big_vision style), imported here because the user named it; UserError for anything else."""
    if ":" not in name:
        if name not in OBJECTIVES:
            raise UserError(
                f"unknown objective '{name}': set config.data.objective to one of {', '.join(OBJECTIVES)} "
                "or to a module path 'package.module:attribute' of an Objective record"
            )
        return OBJECTIVES[name]
    module, _, attribute = name.partition(":")
    found = None
    if module and not module.startswith("."):
        try:
            found = getattr(importlib.import_module(module), attribute, None)
        except ModuleNotFoundError as e:  # the named module (or a package above it) is missing, not one it imports
            if not e.name or not (module == e.name or module.startswith(e.name + ".")):
                raise
    if not isinstance(found, Objective):
        raise UserError(
            f"config.data.objective='{name}' names no Objective record (module '{module}', attribute "
            f"'{attribute}'): fix the module path, e.g. jaxlm.objectives.causal_lm:OBJECTIVE"
        )
    return found
