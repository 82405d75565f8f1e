"""Jitted decoding functions kept per model, so repeated generate/beam calls on one model compile once.

Flax modules holding a ConfigDict are not hashable, so the cache is keyed by the module's identity (holding a
reference to it, so the id is never reused while cached) and by the Python values the function closes over.
"""

from collections import OrderedDict
from collections.abc import Callable, Hashable

_CACHE: OrderedDict = OrderedDict()
MAX_ENTRIES = 16


def per_model(model, key: Hashable, build: Callable[[], Callable]) -> Callable:
    """`build()`'s function for (model, key), built on first use and reused while among the last MAX_ENTRIES."""
    entry = _CACHE.get((id(model), key))
    if entry is not None and entry[0] is model:
        _CACHE.move_to_end((id(model), key))
        return entry[1]
    fn = build()
    _CACHE[(id(model), key)] = (model, fn)
    if len(_CACHE) > MAX_ENTRIES:
        _CACHE.popitem(last=False)
    return fn
