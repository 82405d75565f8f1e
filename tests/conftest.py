"""Shared fixtures: an isolated tokenizer cache and the tiny GPT config."""

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    os.environ["JAXLM_CACHE"] = str(tmp_path_factory.mktemp("jaxlm_cache"))


@pytest.fixture
def tiny_config():
    from jaxlm.config.loading import load_config_file
    cfg = load_config_file(os.path.join(ROOT, "experiments", "gpt_tiny.py"))
    cfg.train.progress = False
    return cfg


def jaxlm_cli(*args, cwd=None):
    """Run the real console entry point in a subprocess; returns CompletedProcess."""
    import subprocess
    return subprocess.run([sys.executable, "-m", "jaxlm.cli.main", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, timeout=600)
