"""Every notebook under notebooks/ executes top to bottom (nbclient, in a fresh kernel) and is stored without outputs."""

import json
import os

import nbformat
import pytest
from conftest import ROOT, jaxlm_cli
from nbclient import NotebookClient

NOTEBOOKS = sorted(f for f in os.listdir(os.path.join(ROOT, "notebooks")) if f.endswith(".ipynb"))


def _tiny_sweep(tmp_path) -> dict[str, str]:
    """A tiny sweep with one of its runs finished (lr_1e-2, seed 0) for ablation_report.ipynb to render."""
    d = str(tmp_path / "sweep")
    p = jaxlm_cli("sweep", "--config", os.path.join(ROOT, "tests", "data", "tiny_ablation.py"), "--workdir", d,
                  "--config.sweep.seeds=(0,)", "--only", "lr_1e-2")
    assert p.returncode == 0, p.stderr
    return {"JAXLM_SWEEP_DIR": d}


# Notebooks that need inputs made first: name -> (setup returning environment variables, strings the outputs hold).
INPUTS = {"ablation_report.ipynb": (_tiny_sweep, ("(best)", "lr_1e-2", "image/png"))}


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs(name, tmp_path, monkeypatch):
    path = os.path.join(ROOT, "notebooks", name)
    nb = nbformat.read(path, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), f"{name}: clear outputs before committing"
    setup, expected = INPUTS.get(name, (lambda _: {}, ()))
    for key, value in setup(tmp_path).items():
        monkeypatch.setenv(key, value)
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": os.path.join(ROOT, "notebooks")}}).execute()
    outputs = json.dumps([c.get("outputs", []) for c in nb.cells])
    assert all(s in outputs for s in expected), f"{name}: outputs lack one of {expected}"
