"""Every notebook under notebooks/ executes top to bottom (nbclient, in a fresh kernel) and is stored without outputs."""

import json
import os
import shutil

import nbformat
import pytest
from conftest import ROOT
from nbclient import NotebookClient

NOTEBOOKS = sorted(f for f in os.listdir(os.path.join(ROOT, "notebooks")) if f.endswith(".ipynb"))


def _tiny_sweep(request, tmp_path) -> dict[str, str]:
    """A copy of the session's tiny sweep (conftest.py; both variants, both seeds finished) for
    ablation_report.ipynb to render: the notebook rewrites the report of the dir it is given."""
    d = str(tmp_path / "sweep")
    shutil.copytree(request.getfixturevalue("tiny_sweep")[0], d)
    return {"JAXLM_SWEEP_DIR": d}


# Notebooks that need inputs made first: name -> (setup returning environment variables, strings the outputs hold).
INPUTS = {
    "ablation_report.ipynb": (_tiny_sweep, ("(best)", "lr_1e-2", "lr_3e-3", "image/png")),
    "finetune_imported.ipynb": (lambda *_: {}, ("val loss by step", "max |transformers - jaxlm|")),
}
# The sweep is built once, by the worker that runs test_sweep.py's group.
GROUPS = {"ablation_report.ipynb": "sweep"}


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=[pytest.mark.xdist_group(GROUPS[n])] if n in GROUPS else []) for n in NOTEBOOKS]
)
def test_notebook_runs(name, request, tmp_path, monkeypatch):
    path = os.path.join(ROOT, "notebooks", name)
    nb = nbformat.read(path, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        f"{name}: clear outputs before committing"
    )
    setup, expected = INPUTS.get(name, (lambda *_: {}, ()))
    for key, value in setup(request, tmp_path).items():
        monkeypatch.setenv(key, value)
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": os.path.join(ROOT, "notebooks")}}
    ).execute()
    outputs = json.dumps([c.get("outputs", []) for c in nb.cells])
    assert all(s in outputs for s in expected), f"{name}: outputs lack one of {expected}"
