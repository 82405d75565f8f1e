"""Alias of `jaxlm.checks`, kept only until jaxlm/interop imports `from jaxlm import checks` (the checks sit below
every layer now, so library code can use them; the CLI is the top layer)."""

from jaxlm.checks import *  # noqa: F403
