"""Downstream evaluation during training: tasks in lm-eval-harness's YAML + JSONL format, scored in the loop.

`task.py` reads a task file (or a shipped task by name, `tasks/`), `requests.py` turns its documents into
token rows as lm-eval's `hf` backend builds them, `score.py` scores rows batched on the run's mesh,
`generation.py` decodes greedily, `downstream.py` ties them to a run and returns the metrics.
"""
