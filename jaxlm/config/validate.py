"""Checks on a resolved config that turn impossible settings into one-line errors before any work starts."""

import math

import ml_collections

from jaxlm.errors import UserError


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise UserError(message)


def validate(cfg: ml_collections.ConfigDict) -> None:
    """Raise UserError naming the field and a fix for the first impossible value."""
    m, d, t, o = cfg.model, cfg.data, cfg.train, cfg.optim
    for key, value in [("train.batch_size", t.batch_size), ("train.steps", t.steps), ("data.seq_len", d.seq_len),
                       ("model.n_layers", m.n_layers), ("model.n_heads", m.n_heads), ("model.d_model", m.d_model),
                       ("model.d_ff", m.d_ff), ("model.vocab_size", m.vocab_size), ("model.max_len", m.max_len),
                       ("train.log_every", t.log_every), ("train.eval_every", t.eval_every),
                       ("train.checkpoint_every", t.checkpoint_every), ("train.keep_checkpoints", t.keep_checkpoints),
                       ("train.eval_batch_size", t.eval_batch_size)]:
        _require(value > 0, f"config.{key} must be positive, got {value}: pass e.g. --config.{key}=8")
    _require(m.d_model % m.n_heads == 0,
             f"config.model.d_model={m.d_model} is not divisible by n_heads={m.n_heads}: change one of them")
    _require(d.seq_len <= m.max_len, f"config.data.seq_len={d.seq_len} exceeds the model's {m.max_len} positions "
                                     f"(config.model.max_len): lower seq_len or raise max_len")
    _require(0.0 <= m.dropout < 1.0, f"config.model.dropout={m.dropout} must be in [0, 1)")
    for key, value in [("optim.peak_lr", o.peak_lr), ("optim.weight_decay", o.weight_decay), ("optim.clip", o.clip)]:
        _require(math.isfinite(value) and value >= 0,
                 f"config.{key}={value} must be a finite number ≥ 0: pass e.g. --config.{key}=0.001")
    _require(0.0 <= o.final_lr_frac <= 1.0, f"config.optim.final_lr_frac={o.final_lr_frac} must be in [0, 1]")
    _require(o.warmup >= 0, f"config.optim.warmup={o.warmup} must be ≥ 0")
    _require(t.precision in ("fp32", "bf16"),
             f"config.train.precision='{t.precision}' is not supported: use fp32 or bf16")
