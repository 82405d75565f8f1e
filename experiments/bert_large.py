"""BERT-large (24 layers, d 1024, 16 heads, d_ff 4096) — for accelerators, not for 2 CPU cores.

Command:  jaxlm train --config experiments/bert_large.py --workdir runs/bert_large --config.data.source=CORPUS
Parameters: 338,528,258 (jax.eval_shape of jaxlm's BERT: 32768 vocabulary, 512 positions, MLM + NSP heads);
            336,226,108 with Google's 30522-entry WordPiece vocabulary (the paper's figure: 340M).
Recipe (Devlin et al. 2019): as BERT-base (experiments/bert_base.py) with the larger model.
"""

import os

from jaxlm.config.loading import load_config_file


def get_config():
    """experiments/bert_base.py (the recipe) with BERT-large's shapes."""
    c = load_config_file(os.path.join(os.path.dirname(os.path.abspath(__file__)), "bert_base.py"))
    c.model.update(n_layers=24, n_heads=16, d_model=1024, d_ff=4096)
    return c
