"""Where a run ran: CPU model, cores, jax backend and devices, jaxlm's git commit."""

import os
import platform

import jax

from jaxlm.train.run_info import git_commit


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def environment() -> dict:
    """A JSON-ready description of this machine and code version."""
    devices = jax.devices()
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "backend": jax.default_backend(),
        "devices": f"{len(devices)} × {devices[0].device_kind}",
        "jaxlm_commit": git_commit(),
    }


def describe(env: dict) -> str:
    """One line of hardware for a report."""
    return f"{env['cpu']}, {env['cores']} cores; jax backend {env['backend']}: {env['devices']}"
