"""T5-base (T5 v1.0 shapes: 12+12 layers, d_model 768, d_ff 3072, 12 heads of 64, ReLU FF, tied 32128-id embedding)
with span corruption, for an accelerator.

Command:  jaxlm train --config experiments/t5_base.py --workdir runs/t5_base --config.data.source=CORPUS.jsonl
Runtime:  an accelerator job: 512-token inputs, batch 128; needs a corpus big enough for a 32128-piece tokenizer
          (the embedded plays are not).
Expected: 222,903,552 parameters (Hugging Face's t5-base has the same count); span-corruption loss falls steadily.
"""

import os

from jaxlm.config.loading import load_config_file


def get_config():
    """experiments/t5_small.py (the recipe) with T5-base's shapes."""
    c = load_config_file(os.path.join(os.path.dirname(os.path.abspath(__file__)), "t5_small.py"))
    c.model.update(n_layers=12, n_heads=12, d_model=768, d_ff=3072)
    return c
