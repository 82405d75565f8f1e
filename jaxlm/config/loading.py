"""Load an experiment's `get_config()` module, apply `--config.a.b=v` overrides, validate, save as JSON."""

import ast
import difflib
import importlib.util
import os
import types
from typing import Any

import ml_collections

from jaxlm import checks, io
from jaxlm.errors import UserError
from jaxlm.io import atomic_write


def import_user_module(path: str, what: str, example: str) -> types.ModuleType:
    """Execute a Python module the user points at (trusted code: an experiment or an ablation), with one-line
    errors for a missing file or a syntax error; `what` names it and `example` is a path to suggest."""
    if not os.path.isfile(path):
        raise UserError(f"{what} '{path}' does not exist: pass a module such as {example}")
    spec = importlib.util.spec_from_file_location("jaxlm_user_module", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as e:
        raise UserError(f"{what} '{path}' has a syntax error on line {e.lineno}: fix the module") from None
    return module


def load_config_file(path: str) -> ml_collections.ConfigDict:
    """Import an experiment module and call its `get_config()`."""
    module = import_user_module(path, "config file", "experiments/gpt_shakespeare.py")
    if not hasattr(module, "get_config"):
        raise UserError(f"config file '{path}' defines no get_config(): add one that returns a ConfigDict")
    return module.get_config()


def flat_keys(cfg: ml_collections.ConfigDict, prefix: str = "") -> list[str]:
    """Every leaf key of a nested ConfigDict as dotted paths."""
    keys = []
    for k, v in cfg.items():
        if isinstance(v, ml_collections.ConfigDict):
            keys += flat_keys(v, f"{prefix}{k}.")
        else:
            keys.append(prefix + k)
    return keys


def flatten(tree: dict, sep: str, prefix: str = "") -> dict:
    """Nested dicts → one level with keys joined by `sep`."""
    flat = {}
    for k, v in tree.items():
        if isinstance(v, dict):
            flat.update(flatten(v, sep, f"{prefix}{k}{sep}"))
        else:
            flat[prefix + k] = v
    return flat


def config_changes(old: dict, new: dict) -> list[tuple[str, Any, Any]]:
    """(dotted key, old value, new value) for every leaf of `old` that `new` changes (keys `new` adds, e.g.
    schema fields added since, are not changes)."""
    a, b = flatten(old, "."), flatten(new, ".")
    return [(key, a[key], b.get(key)) for key in sorted(a) if a[key] != b.get(key)]


def _parse_value(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def apply_override(cfg: ml_collections.ConfigDict, key: str, text: str) -> None:
    """Set dotted `key` to the literal in `text`, refusing unknown keys and values of the wrong type."""
    keys = flat_keys(cfg)
    if key not in keys:
        near = difflib.get_close_matches(key, keys, n=1)
        hint = f"did you mean '{near[0]}'?" if near else "see jaxlm/config/schema.py for the schema"
        raise UserError(f"unknown config key '{key}': {hint}")
    *parents, leaf = key.split(".")
    node = cfg
    for p in parents:
        node = node[p]
    old, value = node[leaf], _parse_value(text)
    if isinstance(old, str):
        value = text
    elif isinstance(old, bool) and isinstance(value, str) and value.lower() in ("true", "false"):
        value = value.lower() == "true"
    elif isinstance(old, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if old is not None and type(value) is not type(old):
        raise UserError(
            f"config key '{key}' expects {type(old).__name__}, got {text!r}: pass e.g. --config.{key}={old!r}"
        )
    node[leaf] = value


def split_overrides(argv: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """Separate `--config.a.b=v` (or `--config.a.b v`) overrides from the other arguments."""
    rest, overrides, i = [], [], 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--config."):
            body = arg[len("--config.") :]
            if "=" in body:
                key, val = body.split("=", 1)
            elif i + 1 < len(argv):
                key, val = body, argv[i + 1]
                i += 1
            else:
                raise UserError(f"override '{arg}' has no value: write --config.{body}=VALUE")
            overrides.append((key, val))
        else:
            rest.append(arg)
        i += 1
    return rest, overrides


def save_config(cfg: ml_collections.ConfigDict, path: str) -> None:
    """Write the resolved config as JSON (loading it back never executes code)."""
    atomic_write(path, cfg.to_json(indent=2, sort_keys=True))


def load_saved_config(path: str) -> ml_collections.ConfigDict:
    """Read a workdir's `config.json` over the current schema's defaults (fields added since keep defaults); a
    section the schema lacks is a research project's own (added by its experiments) and is taken as saved."""
    from jaxlm.config.schema import base_config

    if not io.is_file(checks.reachable(path, "config.json")):
        raise UserError(
            f"no config.json in '{str(io.path(path).parent)}': is it a jaxlm workdir written by `jaxlm train`?"
        )
    saved = checks.load_json(path, "restore it or start a fresh workdir")
    if not isinstance(saved, dict):
        raise UserError(f"'{path}' holds no JSON object: restore it or start a fresh workdir")
    cfg = base_config()
    for section, values in saved.items():
        if not isinstance(values, dict):
            raise UserError(
                f"'{path}' has a section '{section}' that is no JSON object: it was not written by this jaxlm"
            )
        if section not in cfg:
            cfg[section] = {}
        for key, value in values.items():
            cfg[section][key] = value
    return cfg
