"""Checks on a resolved config that turn impossible settings into one-line errors before any work starts."""

import math

import jax
import ml_collections

from jaxlm.config.mixture import mixture_entries
from jaxlm.config.schema import (
    ATTENTION_IMPLEMENTATIONS,
    LOGGERS,
    MLP_KINDS,
    MU_DTYPES,
    NORM_TYPES,
    POSITIONS,
    REMAT_CHOICES,
    ROPE_SCALINGS,
    WANDB_MODES,
)
from jaxlm.errors import UserError


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise UserError(message)


def validate(cfg: ml_collections.ConfigDict) -> None:
    """Raise UserError naming the field and a fix for the first impossible value."""
    m, d, t, o = cfg.model, cfg.data, cfg.train, cfg.optim
    for key, value in [
        ("train.batch_size", t.batch_size),
        ("train.steps", t.steps),
        ("data.seq_len", d.seq_len),
        ("model.n_layers", m.n_layers),
        ("model.n_heads", m.n_heads),
        ("model.d_model", m.d_model),
        ("model.d_ff", m.d_ff),
        ("model.vocab_size", m.vocab_size),
        ("model.max_len", m.max_len),
        ("train.log_every", t.log_every),
        ("train.eval_every", t.eval_every),
        ("train.checkpoint_every", t.checkpoint_every),
        ("train.keep_checkpoints", t.keep_checkpoints),
        ("train.eval_batch_size", t.eval_batch_size),
    ]:
        _require(value > 0, f"config.{key} must be positive, got {value}: pass e.g. --config.{key}=8")
    _require(
        m.d_model % m.n_heads == 0,
        f"config.model.d_model={m.d_model} is not divisible by n_heads={m.n_heads}: change one of them",
    )
    _require(
        d.seq_len <= m.max_len,
        f"config.data.seq_len={d.seq_len} exceeds the model's {m.max_len} positions "
        f"(config.model.max_len): lower seq_len or raise max_len",
    )
    _require(0.0 <= m.dropout < 1.0, f"config.model.dropout={m.dropout} must be in [0, 1)")
    for key, value in [("optim.peak_lr", o.peak_lr), ("optim.weight_decay", o.weight_decay), ("optim.clip", o.clip)]:
        _require(
            math.isfinite(value) and value >= 0,
            f"config.{key}={value} must be a finite number ≥ 0: pass e.g. --config.{key}=0.001",
        )
    _require(
        t.nonfinite in ("skip", "stop"), f"config.train.nonfinite='{t.nonfinite}' is not a policy: use 'skip' or 'stop'"
    )
    _require(t.max_nonfinite_in_a_row >= 0, "config.train.max_nonfinite_in_a_row must be ≥ 0")
    _require(0.0 <= o.final_lr_frac <= 1.0, f"config.optim.final_lr_frac={o.final_lr_frac} must be in [0, 1]")
    _require(o.warmup >= 0, f"config.optim.warmup={o.warmup} must be ≥ 0")
    _require(0.0 <= o.muon_beta < 1.0, f"config.optim.muon_beta={o.muon_beta} must be in [0, 1)")
    _require(o.mu_dtype in MU_DTYPES, f"config.optim.mu_dtype='{o.mu_dtype}' is unknown: use bf16, fp32 or '' (fp32)")
    _require(
        t.precision in ("auto", "fp32", "bf16", "fp16"),
        f"config.train.precision='{t.precision}' is not supported: use auto, fp32, bf16 or fp16",
    )
    _require(m.pooling in ("cls", "mean"), f"config.model.pooling='{m.pooling}' is unknown: use cls or mean")
    mixture_entries(d)
    _validate_decoder(cfg)
    _validate_optimization(cfg)
    _validate_loggers(t)


DECODER_OPTIONS = {"positions": POSITIONS, "norm_type": NORM_TYPES, "mlp": MLP_KINDS, "rope_scaling": ROPE_SCALINGS}
GPT_DEFAULTS = {
    "positions": "learned",
    "norm_type": "layernorm",
    "mlp": "gelu",
    "n_kv_heads": 0,
    "use_bias": True,
    "qkv_bias": False,
    "rope_scaling": "none",
    "sliding_window": 0,
    "qk_norm": False,
}


def _validate_decoder(cfg: ml_collections.ConfigDict) -> None:
    """GPT's block options (positions, norm, MLP, key/value heads, biases); other families keep their own block."""
    m = cfg.model
    for key, choices in DECODER_OPTIONS.items():
        _require(m[key] in choices, f"config.model.{key}='{m[key]}' is unknown: use {' or '.join(choices)}")
    _require(
        m.d_kv >= 0 and (m.d_kv in (0, m.d_model // m.n_heads) or m.family in ("gpt", "t5")),
        f"config.model.d_kv={m.d_kv} sets the head width of GPT and T5 only (the {m.family} family's is "
        f"d_model / n_heads = {m.d_model // m.n_heads}): leave it at 0",
    )
    if m.family != "gpt":
        for key, default in GPT_DEFAULTS.items():
            _require(
                m[key] == default,
                f"config.model.{key}={m[key]} is a GPT block option; the {m.family} family "
                f"has its own block: leave it at {default}",
            )
        return
    kv_heads = m.n_kv_heads or m.n_heads
    _require(
        m.n_kv_heads >= 0 and m.n_heads % kv_heads == 0,
        f"config.model.n_kv_heads={m.n_kv_heads} must divide n_heads={m.n_heads} (0 = n_heads, 1 = multi-query)",
    )
    _require(
        cfg.mesh.tensor <= 1 or kv_heads % cfg.mesh.tensor == 0,
        f"config.model.n_kv_heads={kv_heads} key/value heads cannot be split over mesh.tensor={cfg.mesh.tensor}: "
        "use a multiple of mesh.tensor",
    )
    width = m.d_kv or m.d_model // m.n_heads
    if m.positions == "rope":
        _require(
            width % 2 == 0 and m.rope_theta > 0,
            f"config.model.positions=rope needs an even head width (d_kv or d_model/n_heads = {width}) "
            f"and rope_theta > 0 (got {m.rope_theta})",
        )
    _require(
        m.rope_scaling == "none" or m.positions == "rope",
        f"config.model.rope_scaling={m.rope_scaling} scales rotary positions: set positions=rope or leave it none",
    )
    _require(
        m.rope_scaling == "none" or m.rope_factor >= 1,
        f"config.model.rope_factor={m.rope_factor} must be ≥ 1 (the context is extended by it)",
    )
    _require(
        m.rope_scaling not in ("llama3", "yarn") or m.rope_original_max_len > 0,
        f"config.model.rope_scaling={m.rope_scaling} needs rope_original_max_len > 0 (the pre-training context)",
    )
    _require(
        m.rope_scaling != "llama3" or m.rope_high_freq_factor > m.rope_low_freq_factor > 0,
        f"config.model.rope_high_freq_factor={m.rope_high_freq_factor} must exceed rope_low_freq_factor="
        f"{m.rope_low_freq_factor} > 0",
    )
    _require(m.sliding_window >= 0, f"config.model.sliding_window={m.sliding_window} must be ≥ 0 (0 = no window)")


def _validate_optimization(cfg: ml_collections.ConfigDict) -> None:
    """Accumulation, batch ramp, loss scaling, token-clock schedule and init scheme."""
    m, t, o = cfg.model, cfg.train, cfg.optim
    _require(m.init in ("gpt2", "fan_in", "t5"), f"config.model.init='{m.init}' is unknown: use gpt2, fan_in or t5")
    _require(
        t.microbatches > 0 and t.batch_size % t.microbatches == 0,
        f"config.train.microbatches={t.microbatches} must be positive and divide batch_size={t.batch_size}",
    )
    _require(
        m.attention in ATTENTION_IMPLEMENTATIONS,
        f"config.model.attention='{m.attention}' is unknown: use {', '.join(ATTENTION_IMPLEMENTATIONS)}",
    )
    _require(
        m.attention != "cudnn" or jax.default_backend() == "gpu",
        "config.model.attention='cudnn' needs an NVIDIA GPU with cuDNN: use auto (cuDNN where it can run) or xla",
    )
    _require(m.remat in REMAT_CHOICES, f"config.model.remat='{m.remat}' is unknown: use {', '.join(REMAT_CHOICES)}")
    _require(
        not (m.scan_layers and o.name == "adafactor"),
        "config.model.scan_layers stacks each kernel over layers, and Adafactor would then factor its second "
        "moments across layers: set --config.model.scan_layers=False or use another optimizer",
    )
    _require(
        t.loss_chunk == -1 or (t.loss_chunk >= 0 and cfg.data.seq_len % max(t.loss_chunk, 1) == 0),
        f"config.train.loss_chunk={t.loss_chunk} must divide data.seq_len={cfg.data.seq_len} (or be -1 = auto, "
        "0 = unfused logits)",
    )
    _require(t.batch_ramp_tokens >= 0, f"config.train.batch_ramp_tokens={t.batch_ramp_tokens} must be ≥ 0")
    if t.batch_ramp_tokens:
        _require(
            t.microbatches > 1,
            "config.train.batch_ramp_tokens needs train.microbatches > 1 (the batch grows "
            "by whole microbatches): pass e.g. --config.train.microbatches=8",
        )
        _require(
            0 < t.batch_ramp_start <= t.batch_size,
            f"config.train.batch_ramp_start={t.batch_ramp_start} must be in [1, batch_size={t.batch_size}]",
        )
    _require(
        math.isfinite(t.loss_scale_init) and t.loss_scale_init >= 1,
        f"config.train.loss_scale_init={t.loss_scale_init} must be a finite number ≥ 1, e.g. 32768.0",
    )
    _require(t.loss_scale_period > 0, f"config.train.loss_scale_period={t.loss_scale_period} must be positive")
    for key in ("warmup_tokens", "decay_tokens"):
        _require(o[key] >= 0, f"config.optim.{key}={o[key]} must be ≥ 0 (0 = count in steps)")
    _require(
        not o.decay_tokens or o.decay_tokens > o.warmup_tokens,
        f"config.optim.decay_tokens={o.decay_tokens} must exceed warmup_tokens={o.warmup_tokens}",
    )


def _validate_loggers(t: ml_collections.ConfigDict) -> None:
    names = t.loggers if isinstance(t.loggers, (list, tuple)) else [t.loggers]
    for name in names:
        _require(
            name in LOGGERS,
            f"config.train.loggers names an unknown logger {name!r}: use a list of {', '.join(LOGGERS)}, "
            f"e.g. --config.train.loggers=\"['jsonl','wandb']\"",
        )
    _require(len(set(names)) == len(names), f"config.train.loggers={list(names)} names a logger twice: name it once")
    _require(
        t.wandb.mode in WANDB_MODES,
        f"config.train.wandb.mode='{t.wandb.mode}' is unknown: use {' or '.join(WANDB_MODES)}",
    )
