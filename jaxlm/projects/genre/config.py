"""The genre study's own config section, `config.genre` (the core schema has none): its experiments add it with
`with_genre_section`, so its fields can be overridden (`--config.genre.train_passages=32`) and are saved."""

import ml_collections

from jaxlm.errors import UserError

DEFAULTS = dict(
    passage_speeches=4,  # consecutive speeches per passage (never across plays)
    balance=True,  # oversample training passages so every label is equally frequent
    train_passages=0,  # labelled training passages per label, drawn by train.seed and spread over the
    # label's plays (0 = all); the label-scarce regime
)


def with_genre_section(c: ml_collections.ConfigDict, **values) -> ml_collections.ConfigDict:
    """`c` with a `genre` section: the defaults above, updated with `values`."""
    c.genre = dict(DEFAULTS, **values)
    return c


def section(cfg: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """`config.genre` over the defaults above (as the schema's defaults fill a config saved before a field existed)."""
    return ml_collections.ConfigDict(dict(DEFAULTS, **(cfg.genre.to_dict() if "genre" in cfg else {})))


def check(cfg: ml_collections.ConfigDict) -> None:
    """UserError for an impossible `config.genre` (run when the config is validated, before anything is written)."""
    g = section(cfg)
    if g.passage_speeches < 1:
        raise UserError(f"config.genre.passage_speeches={g.passage_speeches} must be ≥ 1")
    if g.train_passages < 0:
        raise UserError(
            f"config.genre.train_passages={g.train_passages} must be ≥ 0 (labelled passages per label; 0 = all)"
        )
