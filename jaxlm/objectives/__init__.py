"""Registry of pre-training objectives: `config.data.objective` → prepare(split, cfg, tokenizer, train)."""

from jaxlm.objectives import causal_lm

OBJECTIVES = {
    "causal_lm": causal_lm.prepare,
}
