"""The genre study: classify passages of the bundled plays by genre after pre-training (REPORT.md).

objectives.py (the `Objective` records classification, text_to_text and continuation over passages.py's
passages, named by module path, e.g. `jaxlm.projects.genre.objectives:classification`), config.py (the project's
own config section, `config.genre`), finetune.py (`jaxlm finetune`: train, then score held-out plays with
predict.py and scores.py), probe.py (`jaxlm probe`: a linear probe of frozen features) and cli.py (those two
verbs of the `jaxlm` command).
"""
