"""Config overrides and validation."""

import os

import pytest
from conftest import ROOT

from jaxlm.config.loading import apply_override, load_config_file, split_overrides
from jaxlm.config.schema import base_config
from jaxlm.config.validate import validate
from jaxlm.errors import UserError


def test_every_experiment_uses_the_schema():
    keys = set(base_config().keys())
    for name in sorted(os.listdir(os.path.join(ROOT, "experiments"))):
        if name.endswith(".py"):
            cfg = load_config_file(os.path.join(ROOT, "experiments", name))
            project = {"genre"} if name.startswith("finetune_genre_") else set()  # its project's own section
            assert set(cfg.keys()) == keys | project, name
            validate(cfg)


def test_overrides_parse_types():
    cfg = base_config()
    rest, ov = split_overrides(
        [
            "train",
            "--config.model.n_layers=6",
            "--config.optim.peak_lr",
            "1e-3",
            "--config.data.source=my.txt",
            "--config.train.progress=false",
            "--config.optim.peak_lr=1",
        ]
    )
    assert rest == ["train"]
    for k, v in ov:
        apply_override(cfg, k, v)
    assert cfg.model.n_layers == 6 and cfg.data.source == "my.txt" and cfg.train.progress is False
    assert cfg.optim.peak_lr == 1.0 and isinstance(cfg.optim.peak_lr, float)


@pytest.mark.parametrize(
    "key,value,match",
    [
        ("model.n_layer", "2", "did you mean 'model.n_layers'"),
        ("train.steps", "1.5", "expects int"),
        ("model.tie_embeddings", "maybe", "expects bool"),
    ],
)
def test_bad_overrides(key, value, match):
    with pytest.raises(UserError, match=match):
        apply_override(base_config(), key, value)


@pytest.mark.parametrize(
    "key,value,match",
    [
        ("train.batch_size", 0, "batch_size must be positive"),
        ("data.seq_len", 1000, "exceeds the model's"),
        ("model.n_heads", 5, "not divisible"),
        ("optim.peak_lr", float("nan"), "finite"),
        ("optim.peak_lr", -1.0, "finite number ≥ 0"),
        ("train.precision", "fp8", "not supported"),
    ],
)
def test_validation(key, value, match):
    cfg = base_config()
    section, leaf = key.split(".")
    cfg[section][leaf] = value
    with pytest.raises(UserError, match=match):
        validate(cfg)
