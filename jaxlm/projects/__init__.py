"""Research projects built on the jaxlm core (big_vision's proj/ convention): each sub-package holds one study's
objectives (`Objective` records that its experiments name by module path in `config.data.objective`), its own
config section (added by its experiments), fine-tuning and analysis. The core never imports a project; the
`jaxlm` command adds the verbs listed here."""

from jaxlm.projects.genre import cli as genre_cli

VERBS = (genre_cli,)  # modules with register(sub): each project's verbs of the `jaxlm` command
