"""The genre study: classify passages of the bundled plays by genre after pre-training (REPORT.md).

objectives.py (genre_classification, genre_text_to_text, genre_continuation over passages.py's passages),
finetune.py (`jaxlm finetune`: train, then score held-out plays with predict.py and scores.py), probe.py (`jaxlm
probe`: a linear probe of frozen features) and context_ablation.py (`jaxlm eval --context-ablation`).
"""
