"""The README's "Your own data" flow, run as written: its config module and its commands, parsed out of README.md,
on a generated folder of .jsonl.gz documents with more than 4,096 distinct characters (the case where a
4096-piece sentencepiece tokenizer at character_coverage=1 cannot train)."""

import gzip
import json
import os
import re
import shlex
import subprocess
import sys

import numpy as np

from tests.conftest import ROOT

N_DOCS = 900
WORD = re.compile(r"[a-z]{2,9}")


def readme_section() -> str:
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    return text.split("## Your own data", 1)[1].split("\n## ", 1)[0]


def generated_corpus(folder) -> int:
    """Mostly ASCII prose and code, with 1 character in 60 drawn from 6,000 CJK characters by a Zipf law (a few
    frequent, most rare, as in real text); two files of documents. Returns the number of distinct characters."""
    rng = np.random.default_rng(0)
    words = ["".join(rng.choice(list("etaoinshrdlcumwfgypbvk"), size=rng.integers(2, 9))) for _ in range(1500)]
    rare = [chr(0x4E00 + k) for k in range(6000)]
    weights = 1.0 / np.arange(1, len(rare) + 1) ** 0.7
    weights /= weights.sum()
    seen = set()
    os.makedirs(folder)
    for part in range(2):
        with gzip.open(os.path.join(folder, f"part{part}.jsonl.gz"), "wt", encoding="utf-8") as f:
            for _ in range(N_DOCS // 2):
                lines = []
                for _ in range(rng.integers(20, 40)):
                    if rng.random() < 0.3:
                        lines.append(f"    x_{rng.integers(100)} = f(x_{rng.integers(100)}, {rng.integers(1000)})")
                    else:
                        lines.append(" ".join(words[i] for i in rng.zipf(1.3, size=rng.integers(5, 15)) % len(words)))
                text = "\n".join(lines) + "\n"
                n_rare = len(text) // 60
                spots = np.sort(rng.integers(len(text), size=n_rare))
                chars = rng.choice(len(rare), size=n_rare, p=weights)
                pieces, last = [], 0
                for spot, c in zip(spots, chars):
                    pieces += [text[last:spot], rare[c]]
                    last = spot
                text = "".join(pieces) + text[last:]
                seen.update(text)
                f.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
    return len(seen)


def test_readme_own_data_commands_run_as_written(tmp_path):
    section = readme_section()
    module = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    commands = [ln for ln in re.search(r"```bash\n(.*?)```", section, re.DOTALL).group(1).splitlines() if ln.strip()]
    assert [c.split()[:2] for c in commands] == [["jaxlm", "data"], ["jaxlm", "train"], ["jaxlm", "eval"]]
    source = re.search(r'source="([^"]+)"', module).group(1)
    config = re.search(r"--config (\S+)", commands[0]).group(1)
    assert generated_corpus(tmp_path / source) > 4096
    # The module as written, with a tiny model and few steps instead of its model and length lines.
    tiny = re.sub(
        r"c\.model\.update\(.*\)",
        "c.model.update(n_layers=1, n_heads=2, d_model=32, d_ff=64, vocab_size=4096, max_len=128)",
        module,
    )
    tiny = re.sub(
        r"c\.train\.update\(.*\)",
        "c.train.update(steps=6, batch_size=4, eval_batch_size=64, sample_tokens=0, eval_tokens=20_000)",
        tiny,
    )
    assert tiny.count("update(") == module.count("update(") and tiny != module
    (tmp_path / config).write_text(tiny)
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"], PYTHONPATH=ROOT)
    outputs = []
    for command in commands:
        p = subprocess.run(shlex.split(command), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, (command, p.stderr[-3000:])
        assert "Traceback" not in p.stderr
        outputs.append(p)
    prepared = json.loads(outputs[0].stdout.strip().splitlines()[-1])
    assert prepared["built"] is True and "reused" not in outputs[0].stderr
    assert 150 <= prepared["val"]["docs"] <= 250 and 150 <= prepared["test"]["docs"] <= 250  # val_target_docs=200
    assert sum(prepared[s]["docs"] for s in ("train", "val", "test")) == N_DOCS
    evaluated = json.loads(outputs[2].stdout.strip().splitlines()[-1])
    for split in ("val", "test"):  # the whole split: every token of its documents is a target
        assert evaluated[split]["target_bytes"] == prepared[split]["bytes"]
        assert 0 < evaluated[split]["bits_per_byte"] < 20
        # train's final scores are the whole split's too (the same numbers as `jaxlm eval`)
        assert f"{split}: loss {evaluated[split]['loss']:.4f}," in outputs[1].stdout
    workdir = re.search(r"--workdir (\S+)", commands[1]).group(1)
    with open(tmp_path / workdir / "metrics.jsonl") as f:  # during training: about eval_tokens tokens
        during = [row for row in map(json.loads, f) if row.get("split") == "val"]
    assert [row["target_tokens"] for row in during] == [-(-20_000 // (64 * 128)) * 64 * 128]
    again = subprocess.run(shlex.split(commands[0]), cwd=tmp_path, env=env, capture_output=True, text=True)
    assert again.returncode == 0 and json.loads(again.stdout.strip().splitlines()[-1])["built"] is False
    assert "jaxlm: reused the token store" in again.stderr
