"""Registry of objectives: `config.data.objective` → prepare(split, cfg, tokenizer, train)."""

import importlib
from collections.abc import Callable

from jaxlm.objectives import bart, bert_mlm_nsp, causal_lm, roberta_mlm, t5


def _project_objective(ref: str) -> Callable:
    """A research project's objective 'package.module:function' (jaxlm/projects), imported on first use: the
    core names a project's objectives but never imports a project, so the layers stay acyclic."""
    module, _, name = ref.partition(":")

    def prepare(*args, **kwargs):
        return getattr(importlib.import_module(module), name)(*args, **kwargs)
    return prepare


OBJECTIVES = {
    "causal_lm": causal_lm.prepare,
    "bert_mlm_nsp": bert_mlm_nsp.prepare,
    "roberta_mlm": roberta_mlm.prepare,
    "t5_span_corruption": t5.span_corruption,
    "t5_prefix_lm": t5.prefix_lm,
    "t5_iid_replace_spans": t5.iid_replace_spans,
    "t5_iid_drop_tokens": t5.iid_drop_tokens,
    "t5_bert_style": t5.bert_style,
    "bart_denoise": bart.prepare,
    "genre_classification": _project_objective("jaxlm.projects.genre.objectives:classification"),
    "genre_text_to_text": _project_objective("jaxlm.projects.genre.objectives:text_to_text"),
    "genre_continuation": _project_objective("jaxlm.projects.genre.objectives:continuation"),
}

NEEDS = {  # objective → the tokenizer roles its examples are built from (see jaxlm/data/special_tokens.py)
    "causal_lm": ("eos",),
    "bert_mlm_nsp": ("eos", "pad", "cls", "sep", "mask"),
    "roberta_mlm": ("eos", "pad", "cls", "sep", "mask"),
    "t5_span_corruption": ("eos", "pad", "sentinels"),
    "t5_prefix_lm": ("eos", "pad"),
    "t5_iid_replace_spans": ("eos", "pad", "sentinels"),
    "t5_iid_drop_tokens": ("eos", "pad"),
    "t5_bert_style": ("eos", "pad", "mask"),
    "bart_denoise": ("eos", "pad", "mask"),
    "genre_classification": ("eos", "pad", "cls", "sep"),
    "genre_text_to_text": ("eos", "pad"),
    "genre_continuation": ("eos", "pad"),
}

SENTENCE_OBJECTIVES = ("bert_mlm_nsp", "roberta_mlm")  # their token store is tokenized sentence by sentence
