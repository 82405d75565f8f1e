"""Context ablation (`jaxlm eval --context-ablation`): evaluate with every example's context taken from another example of the batch.

A pre-trained model that ignores its context (a masked LM that predicts unigram frequencies, an encoder-decoder
whose decoder ignores the encoder) cannot transfer anything to fine-tuning, and its loss alone does not show
it. `context_gain` = the loss with the contexts swapped − the true loss (nats per target): 0 means the context
is unused. The targets stay; only the conditioning changes:
- encoder-only masked LM: every unpredicted token becomes the token at the same position of the next real
  row (the predicted positions keep their [MASK] / random / same inputs; token types and mask stay);
- encoder-decoder (any objective): the encoder inputs are the next real row's.
Rows rotate among the batch's real rows, so a batch with one real row keeps its own context.
"""

from collections.abc import Callable

import numpy as np

from jaxlm.errors import UserError
from jaxlm.losses.mlm import mlm_loss
from jaxlm.objectives import objective as objective_record
from jaxlm.registry import FAMILIES


def _next_real_row(real: np.ndarray) -> np.ndarray:
    """A row permutation that sends each real row's slot to the next real row (padding rows stay)."""
    rows, order = np.flatnonzero(real), np.arange(len(real))
    order[rows] = np.roll(rows, -1)
    return order


def _masked_lm(batch: dict) -> dict:
    other = _next_real_row(batch["attention_mask"][:, 0] > 0)
    inputs = np.where(batch["mlm_weights"] > 0, batch["inputs"], batch["inputs"][other])
    return dict(batch, inputs=np.where(batch["attention_mask"] > 0, inputs, 0))


def _encoder_inputs(batch: dict) -> dict:
    other = _next_real_row(batch["inputs_segment_ids"][:, 0] > 0)
    return dict(batch, **{k: batch[k][other] for k in ("inputs", "inputs_segment_ids", "inputs_positions")})


def context_ablation(family: str, objective: str) -> Callable[[dict], dict]:
    """The host-side batch transform that swaps contexts for `family`'s `objective`; UserError where the
    context is not separable from the targets."""
    if FAMILIES[family].encoder_decoder:
        return _encoder_inputs
    if objective_record(objective).loss is mlm_loss:
        return _masked_lm
    raise UserError(
        f"--context-ablation needs a masked-LM BERT or a T5/BART workdir, not {family} with "
        f"'{objective}' (a GPT's context is its own targets): evaluate without it"
    )
