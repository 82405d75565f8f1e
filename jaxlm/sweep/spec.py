"""An ablation module (`get_config(scale)` + `get_variants(scale)`) → a validated `Sweep` of resolved configs.

The module's config carries a `sweep` section (seeds, metrics, finetune, evals); every variant is the base config
with the variant's `{"dotted.key": value}` overrides, then the command line's `--config.a.b=v` overrides, applied.
`evals` maps a name to `config.data` fields: each run is also evaluated on the validation split prepared with them
(metrics NAME_val_loss, ...), a fixed task shared by variants whose own objectives differ. `finetune_overrides`
(section → {field: value}) changes the fine-tune module's config for this sweep only (e.g. fewer steps at cpu scale).
"""

import copy
import dataclasses
import inspect
import re
import types
from collections.abc import Callable

import ml_collections

from jaxlm.config.loading import apply_override, import_user_module
from jaxlm.config.validate import validate
from jaxlm.errors import UserError
from jaxlm.registry import check_config
from jaxlm.sweep.claims import check_claims, check_failure

SCALES = ("cpu", "accelerator")
SWEEP_DEFAULTS = {
    "seeds": (0,),
    "metrics": ("val_loss",),
    "finetune": "",
    "evals": {},
    "finetune_overrides": {},
    "claims": (),
    "failure": {},
    "warm_start": {},
}
VARIANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+=-]*$")


@dataclasses.dataclass
class Sweep:
    """A resolved sweep: one training config per variant, the seeds, report metrics and the fine-tune stage."""

    path: str
    scale: str
    overrides: list[tuple[str, str]]
    description: str
    variants: dict[str, ml_collections.ConfigDict]
    seeds: tuple[int, ...]
    metrics: tuple[str, ...]
    finetune: str
    finetune_config: ml_collections.ConfigDict | None
    evals: dict[str, dict[str, object]] = dataclasses.field(default_factory=dict)  # name -> data overrides
    claims: list[dict] = dataclasses.field(default_factory=list)  # jaxlm.sweep.claims: decided by the report
    failure: dict = dataclasses.field(default_factory=dict)  # jaxlm.sweep.claims.failure: counted by the report
    finetune_run: Callable | None = None  # the fine-tune module's finetune(cfg, workdir, init_from) -> results
    warm_start: ml_collections.ConfigDict | None = None  # trained once; every run starts from its weights

    def runs(self, only: list[str] | None = None) -> list[tuple[str, int]]:
        """(variant, seed) pairs in definition order, restricted to `only` if given."""
        if only:
            unknown = [v for v in only if v not in self.variants]
            if unknown:
                raise UserError(
                    f"--only {unknown[0]}: no such variant in {self.path}: choose from {', '.join(self.variants)}"
                )
        return [(v, s) for v in self.variants if not only or v in only for s in self.seeds]

    def definition(self) -> dict:
        """Everything that decides what the runs compute (JSON-ready), compared when a sweep dir is resumed."""
        return {
            "seeds": list(self.seeds),
            "finetune": self.finetune,
            "evals": self.evals,
            "finetune_config": self.finetune_config.to_dict() if self.finetune_config else None,
            "variants": {name: cfg.to_dict() for name, cfg in self.variants.items()},
            "warm_start": self.warm_start.to_dict() if self.warm_start else None,
        }


def _call(module: types.ModuleType, path: str, name: str, scale: str, returns: str) -> object:
    """`module.name(scale)`, with one-line errors when it is missing or takes no scale."""
    fn = getattr(module, name, None)
    if not callable(fn):
        raise UserError(f"ablation module '{path}' defines no {name}(scale): add one that returns {returns}")
    try:
        inspect.signature(fn).bind(scale)
    except TypeError:
        raise UserError(f"'{path}': {name}() must take the scale: def {name}(scale: str = \"cpu\")") from None
    return fn(scale)


def _set(cfg: ml_collections.ConfigDict, key: str, value: object) -> None:
    """Set a dotted key to a Python value with the type checks of `--config.a.b=v` overrides."""
    apply_override(cfg, key, value if isinstance(value, str) else repr(value))


def eval_config(cfg: ml_collections.ConfigDict, fields: dict[str, object]) -> ml_collections.ConfigDict:
    """A copy of a run's config with `config.data` fields changed, for an extra evaluation (`config.sweep.evals`)."""
    cfg = copy.deepcopy(cfg)
    for key, value in fields.items():
        _set(cfg, f"data.{key}", value)
    return cfg


def _evals(evals: object, path: str) -> dict[str, dict[str, object]]:
    """config.sweep.evals checked: name -> {data field: value}."""
    if not isinstance(evals, dict) or not all(isinstance(v, dict) and v for v in evals.values()):
        raise UserError(
            f"'{path}': config.sweep.evals must map an evaluation name to data fields, e.g. "
            "{'recipe': {'bart_infill': 0.3}}"
        )
    for name in evals:
        if not re.match(r"^[a-z][a-z0-9_]*$", str(name)):
            raise UserError(
                f"'{path}': config.sweep.evals name {name!r} must be lower-case letters, digits and '_' "
                "(its metrics are NAME_val_loss, ...)"
            )
    return evals


def _sweep_section(cfg: ml_collections.ConfigDict, path: str) -> dict:
    """The config's sweep section with defaults filled in, checked."""
    section = dict(SWEEP_DEFAULTS, **(cfg.sweep.to_dict() if "sweep" in cfg else {}))
    unknown = sorted(set(section) - set(SWEEP_DEFAULTS))
    if unknown:
        raise UserError(
            f"'{path}': config.sweep.{unknown[0]} is not a sweep field: use seeds, metrics, finetune, "
            "finetune_overrides, evals, claims, failure, warm_start"
        )
    seeds, metrics = tuple(section["seeds"]), tuple(section["metrics"])
    if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise UserError(f"'{path}': config.sweep.seeds={seeds} must be a non-empty tuple of ints, e.g. (0, 1)")
    if not metrics or not all(isinstance(m, str) and m for m in metrics):
        raise UserError(
            f"'{path}': config.sweep.metrics={metrics} must be a non-empty tuple of metric names, e.g. ('val_loss',)"
        )
    for field in ("finetune_overrides", "warm_start"):
        nested = section[field]
        if not isinstance(nested, dict) or not all(isinstance(v, dict) for v in nested.values()):
            raise UserError(
                f"'{path}': config.sweep.{field} must map config sections to fields and values, "
                "e.g. {'train': {'steps': 150}}"
            )
    nested = section["finetune_overrides"]
    if nested and not section["finetune"]:
        raise UserError(f"'{path}': config.sweep.finetune_overrides needs config.sweep.finetune (a fine-tune module)")
    return {
        "seeds": seeds,
        "metrics": metrics,
        "finetune": str(section["finetune"]),
        "evals": _evals(section["evals"], path),
        "finetune_overrides": nested,
        "claims": section["claims"],
        "failure": section["failure"],
        "warm_start": section["warm_start"],
    }


def _variant_config(
    base: ml_collections.ConfigDict, name: str, changes: object, overrides: list[tuple[str, str]], path: str
) -> ml_collections.ConfigDict:
    """Base config + the variant's overrides + the command line's, validated, without the sweep section."""
    if not isinstance(name, str) or not VARIANT_NAME.match(name):
        raise UserError(
            f"'{path}': variant name {name!r} is not usable as a directory name: use letters, digits, "
            "'_', '-', '.', '+' or '='"
        )
    if not isinstance(changes, dict):
        raise UserError(f"'{path}': variant '{name}' must map to a dict of overrides, got {type(changes).__name__}")
    cfg = copy.deepcopy(base)
    for key, value in changes.items():
        if not isinstance(key, str) or key.startswith("sweep.") or key == "sweep":
            raise UserError(
                f"'{path}': variant '{name}' overrides {key!r}: variants set dotted keys of the model, "
                "data, train, optim or mesh sections (the sweep section is shared)"
            )
        try:
            _set(cfg, key, value)
        except UserError as e:
            raise UserError(f"'{path}': variant '{name}': {e}") from None
    for key, text in overrides:
        apply_override(cfg, key, text)
    del cfg["sweep"]
    try:
        check_config(cfg)
    except UserError as e:
        raise UserError(f"'{path}': variant '{name}': {e}") from None
    return cfg


def flatten_overrides(nested: dict[str, dict[str, object]]) -> dict[str, object]:
    """{'train': {'steps': 150}} → {'train.steps': 150} (ConfigDict keys cannot hold dots)."""
    return {f"{section}.{key}": value for section, fields in nested.items() for key, value in fields.items()}


def _finetune_stage(
    path: str,
    overrides: dict[str, dict[str, object]],
) -> tuple[ml_collections.ConfigDict | None, Callable | None]:
    """The fine-tune experiment's `get_config()` with `config.sweep.finetune_overrides` applied and its
    `finetune(cfg, workdir, init_from)` (its project's), or (None, None)."""
    if not path:
        return None, None
    module = import_user_module(path, "fine-tune module (config.sweep.finetune)", "experiments/finetune_*.py")
    if not callable(getattr(module, "get_config", None)):
        raise UserError(f"fine-tune module '{path}' defines no get_config(): add one that returns a ConfigDict")
    if not callable(getattr(module, "finetune", None)):
        raise UserError(
            f"fine-tune module '{path}' has no finetune(cfg, workdir, init_from): import its project's, "
            "as experiments/finetune_*.py do"
        )
    cfg = module.get_config()
    for key, value in flatten_overrides(overrides).items():
        try:
            _set(cfg, key, value)
        except UserError as e:
            raise UserError(f"config.sweep.finetune_overrides: {e}") from None
    return cfg, module.finetune


def load_sweep(path: str, scale: str = "cpu", overrides: list[tuple[str, str]] = ()) -> Sweep:
    """Import an ablation module and resolve every variant's config (all errors before any training)."""
    if scale not in SCALES:
        raise UserError(f"scale '{scale}' is unknown: use {' or '.join(SCALES)}")
    module = import_user_module(path, "ablation module", "experiments/ablations/NAME.py")
    variants = _call(module, path, "get_variants", scale, 'a dict: variant name -> {"dotted.key": value}')
    base = _call(module, path, "get_config", scale, "a ConfigDict (base_config() plus a sweep section)")
    if not isinstance(base, ml_collections.ConfigDict):
        raise UserError(f"'{path}': get_config(scale) returned {type(base).__name__}: return a ConfigDict")
    base = copy.deepcopy(base)
    base.sweep = _sweep_section(base, path)
    base.train.progress = False
    overrides = list(overrides)
    for key, text in overrides:
        apply_override(base, key, text)
    section = _sweep_section(base, path)
    if not isinstance(variants, dict) or not variants:
        raise UserError(f"'{path}': get_variants(scale) must return a non-empty dict of variant name -> overrides")
    resolved = {name: _variant_config(base, name, changes, overrides, path) for name, changes in variants.items()}
    for name, cfg in resolved.items():
        for eval_name, fields in section["evals"].items():
            try:
                validate(eval_config(cfg, fields))
            except UserError as e:
                raise UserError(f"'{path}': config.sweep.evals.{eval_name} on variant '{name}': {e}") from None
    finetune_config, finetune_run = _finetune_stage(section["finetune"], section["finetune_overrides"])
    warm = section["warm_start"]
    warm_start = _variant_config(base, "warm_start", flatten_overrides(warm), overrides, path) if warm else None
    return Sweep(
        path=path,
        scale=scale,
        overrides=overrides,
        description=(module.__doc__ or "").strip(),
        variants=resolved,
        seeds=section["seeds"],
        metrics=section["metrics"],
        finetune=section["finetune"],
        finetune_config=finetune_config,
        evals=section["evals"],
        finetune_run=finetune_run,
        claims=check_claims(section["claims"], list(resolved), section["metrics"], path),
        failure=check_failure(section["failure"], section["metrics"], path),
        warm_start=warm_start,
    )
