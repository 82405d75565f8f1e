"""`jaxlm bench`: measure a config's training step and print one JSON object."""

import json

from jaxlm import checks
from jaxlm.data.tokenizer import MIN_VOCAB_SIZE

DEFAULT_STEPS = 10


def register(sub) -> None:
    p = sub.add_parser(
        "bench",
        help="time a config's train step (tokens/s, FLOPs, MFU) as JSON: --config FILE "
        "[--steps N] [--memory] [--data] [--generate] [--config.a.b=v]",
    )
    p.add_argument("--config", required=True, help="experiment module with get_config()")
    p.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="timed steps after the warm-up (median)")
    p.add_argument(
        "--memory",
        action="store_true",
        help="also the bytes of params, grads, optimizer state and XLA's temp memory for one step",
    )
    p.add_argument(
        "--data",
        action="store_true",
        help="also the input pipeline's tokens/s, its ratio to the step's, and the loop's host wait",
    )
    p.add_argument(
        "--generate",
        action="store_true",
        help="also the KV-cache greedy decoding speed of a decoder-only model (decode_tokens_per_s)",
    )
    p.add_argument("--prompt-len", type=int, default=8, help="--generate: prompt tokens (default 8)")
    p.add_argument("--new-tokens", type=int, default=64, help="--generate: new tokens per call (default 64)")
    p.add_argument(
        "--data-vocab",
        type=int,
        help="train the batches' tokenizer with at most this many pieces (the model keeps its vocabulary; "
        "step time does not depend on token values): for presets like GPT-2's 50304, which the "
        "embedded corpus cannot train",
    )
    p.add_argument(
        "--profile",
        metavar="DIR",
        help="trace the timed steps with jax.profiler into DIR (TensorBoard's profile plugin or Perfetto "
        "reads it); tracing adds a little to each step",
    )
    p.add_argument("--peak-n", type=int, help="matrix size of the CPU peak matmul (default 2048)")
    p.set_defaults(run=run_bench)


def run_bench(args, overrides) -> int:
    checks.int_in_range(args.steps, "--steps", 1, None, DEFAULT_STEPS)
    if args.peak_n is not None:
        checks.int_in_range(args.peak_n, "--peak-n", 1, None, 2048)
    checks.int_in_range(args.prompt_len, "--prompt-len", 1, None, 8)
    checks.int_in_range(args.new_tokens, "--new-tokens", 1, None, 64)
    if args.data_vocab is not None:
        checks.int_in_range(args.data_vocab, "--data-vocab", MIN_VOCAB_SIZE, None, 4096)
    if args.profile:
        checks.output_folder(args.profile, "--profile", force=True)
    from jaxlm.bench.data import data_report
    from jaxlm.bench.decode import decode_report
    from jaxlm.bench.live import live_setup
    from jaxlm.bench.memory import memory_report
    from jaxlm.bench.speed import speed_report
    from jaxlm.train.workdir import resolve_config

    cfg = resolve_config(args.config, overrides)
    decode = decode_report(cfg, args.prompt_len, args.new_tokens) if args.generate else {}
    live = live_setup(cfg, args.data_vocab)
    report = speed_report(live, args.steps, args.peak_n, args.profile)
    if args.profile:
        report["profile_dir"] = args.profile
    if args.data:
        report.update(data_report(live, args.steps, report["tokens_per_s"]))
    if args.memory:
        report.update(memory_report(cfg))
    report.update(decode)
    print(json.dumps(report))
    return 0
