"""The device's peak FLOP/s for MFU: a table of dense datasheet peaks for accelerators, or a measured matmul.

Accelerators are looked up by `jax.devices()[0].device_kind` in DENSE_PEAKS (dense bf16 figures, never the
2:4-sparse ones); anything else (CPUs) gets the median rate of several n×n×n matmuls in the compute dtype,
timed with jax on the same device (n = 2048 unless JAXLM_BENCH_PEAK_N says otherwise).
"""

import os
import statistics
import time

import jax
import jax.numpy as jnp

# (substring of device_kind, dense bf16 FLOP/s, what it is); the first match wins, so specific names go first.
DENSE_PEAKS = (
    ("H100 PCIe", 756e12, "NVIDIA H100 PCIe dense bf16"),
    ("H100", 989e12, "NVIDIA H100 SXM dense bf16"),
    ("H200", 989e12, "NVIDIA H200 dense bf16"),
    ("A100", 312e12, "NVIDIA A100 dense bf16"),
    ("TPU v4", 275e12, "TPU v4 dense bf16 per chip"),
    ("TPU v5 lite", 197e12, "TPU v5e dense bf16 per chip"),
    ("TPU v5e", 197e12, "TPU v5e dense bf16 per chip"),
    ("TPU v5p", 459e12, "TPU v5p dense bf16 per chip"),
    ("TPU v5", 459e12, "TPU v5p dense bf16 per chip"),
)
DEFAULT_N = 2048
REPEATS = 5


def table_peak(device_kind: str) -> tuple[float, str] | None:
    """(FLOP/s, source) from DENSE_PEAKS, or None for a device it does not list."""
    for key, flops, what in DENSE_PEAKS:
        if key.lower() in device_kind.lower():
            return flops, f"table: {what} ({device_kind})"
    return None


def measured_matmul_flops(n: int, dtype=jnp.float32, repeats: int = REPEATS) -> float:
    """Median FLOP/s of `repeats` jitted n×n×n matmuls (2·n³ FLOPs each) after a warm-up."""
    a = jax.random.normal(jax.random.PRNGKey(0), (n, n), dtype)
    b = jax.random.normal(jax.random.PRNGKey(1), (n, n), dtype)
    matmul = jax.jit(jnp.matmul)
    matmul(a, b).block_until_ready()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        matmul(a, b).block_until_ready()
        times.append(time.perf_counter() - start)
    return 2 * n**3 / statistics.median(times)


def peak_flops(dtype=jnp.float32, n: int | None = None) -> tuple[float, str]:
    """(peak FLOP/s, where it comes from) for the first device and the compute dtype."""
    device = jax.devices()[0]
    if device.platform != "cpu":
        found = table_peak(device.device_kind)
        if found:
            return found
    n = n or int(os.environ.get("JAXLM_BENCH_PEAK_N", DEFAULT_N))
    name = jnp.dtype(dtype).name
    return measured_matmul_flops(
        n, dtype
    ), f"measured: median of {REPEATS} jax {n}³ {name} matmuls on {device.device_kind}"
