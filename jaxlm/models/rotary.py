"""Rotary positions (RoPE) and their context-extension variants, as Hugging Face's `rope_scaling` defines them:
'linear' (position interpolation), 'llama3' (Llama 3.1's per-frequency interpolation) and 'yarn' (YaRN's ramp
between interpolation and extrapolation, with its attention factor on cos and sin).

The frequencies are fixed numbers of the config, computed once on the host; only the rotation runs on device.
"""

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np


@dataclass(frozen=True)
class Rotary:
    """One self-attention's rotary positions: base `theta` and `scaling` with its parameters (config.model.rope_*)."""

    theta: float
    scaling: str = "none"  # config.schema.ROPE_SCALINGS
    factor: float = 1.0
    original_max_len: int = 0  # the pre-training context the scaling extends (llama3, yarn)
    low_freq_factor: float = 1.0  # llama3
    high_freq_factor: float = 4.0  # llama3
    beta_fast: float = 32.0  # yarn
    beta_slow: float = 1.0  # yarn
    attention_factor: float = 0.0  # yarn: cos/sin scale (0 = YaRN's 0.1·ln(factor) + 1)

    def inv_freq(self, head_dim: int) -> np.ndarray:
        """The rotation rate of each of the head_dim/2 feature pairs (float32, as transformers computes them)."""
        base = 1.0 / self.theta ** (np.arange(0, head_dim, 2, dtype=np.int64).astype(np.float32) / head_dim)
        if self.scaling == "linear":
            return base / self.factor
        if self.scaling == "llama3":
            return self._llama3(base)
        if self.scaling == "yarn":
            return self._yarn(head_dim)
        return base

    def scale(self) -> float:
        """The factor on cos and sin (YaRN's attention temperature; 1 otherwise)."""
        if self.scaling != "yarn":
            return 1.0
        return self.attention_factor or (0.1 * math.log(self.factor) + 1.0 if self.factor > 1 else 1.0)

    def _llama3(self, base: np.ndarray) -> np.ndarray:
        wavelen = 2 * math.pi / base
        low, high = self.original_max_len / self.low_freq_factor, self.original_max_len / self.high_freq_factor
        scaled = np.where(wavelen > low, base / self.factor, base)
        smooth = (self.original_max_len / wavelen - self.low_freq_factor) / (
            self.high_freq_factor - self.low_freq_factor
        )
        smoothed = (1 - smooth) * scaled / self.factor + smooth * scaled
        medium = ~(wavelen < high) & ~(wavelen > low)
        return np.where(medium, smoothed, scaled).astype(np.float32)

    def _yarn(self, head_dim: int) -> np.ndarray:
        def correction_dim(rotations: float) -> float:
            return head_dim * math.log(self.original_max_len / (rotations * 2 * math.pi)) / (2 * math.log(self.theta))

        low = max(math.floor(correction_dim(self.beta_fast)), 0)
        high = min(math.ceil(correction_dim(self.beta_slow)), head_dim - 1)
        ramp = np.clip((np.arange(head_dim // 2, dtype=np.float32) - low) / ((high - low) or 0.001), 0, 1)
        extrapolation = 1.0 / self.theta ** (np.arange(0, head_dim, 2).astype(np.float32) / head_dim)
        keep = 1 - ramp  # the fast-rotating pairs keep their frequency, the slow ones are interpolated
        return (extrapolation / self.factor * (1 - keep) + extrapolation * keep).astype(np.float32)

    def __call__(self, x: jax.Array, positions: jax.Array) -> jax.Array:
        """x [B, T, heads, head_dim] rotated at `positions` [B, T], in fp32: feature pairs (i, i + head_dim/2) (the
        rotate-half layout of GPT-NeoX and Llama, so Hugging Face weights need no permutation)."""
        half = x.shape[-1] // 2
        angles = jnp.asarray(positions, jnp.float32)[:, :, None, None] * jnp.asarray(self.inv_freq(2 * half))
        cos, sin = jnp.cos(angles) * self.scale(), jnp.sin(angles) * self.scale()
        x1, x2 = x[..., :half].astype(jnp.float32), x[..., half:].astype(jnp.float32)
        return jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1).astype(x.dtype)


def rotary(m: ml_collections.ConfigDict) -> Rotary | None:
    """A GPT `config.model`'s rotary positions, or None for learned positions."""
    if m.positions != "rope":
        return None
    return Rotary(
        m.rope_theta,
        m.rope_scaling,
        m.rope_factor,
        m.rope_original_max_len,
        m.rope_low_freq_factor,
        m.rope_high_freq_factor,
        m.rope_beta_fast,
        m.rope_beta_slow,
        m.rope_attention_factor,
    )
