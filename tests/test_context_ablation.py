"""Context ablation (`jaxlm eval --context-ablation`): which inputs are swapped, and between which rows."""

import numpy as np
import pytest

from jaxlm.errors import UserError
from jaxlm.train.context_ablation import context_ablation


def test_masked_lm_keeps_predicted_positions_and_swaps_the_rest_among_real_rows():
    inputs = np.array([[2, 10, 11, 12, 3, 0], [2, 20, 21, 22, 23, 3], [2, 30, 31, 3, 0, 0], [0] * 6])
    attention = (inputs > 0).astype(np.int32)
    weights = np.zeros((4, 6), np.float32)
    weights[0, 2], weights[1, 1] = 1, 1  # row 0 predicts position 2, row 1 position 1
    batch = {"inputs": inputs, "attention_mask": attention, "mlm_weights": weights, "segment_ids": attention * 0}
    out = context_ablation("bert", "bert_mlm_nsp")(batch)
    np.testing.assert_array_equal(
        out["inputs"],
        [
            [2, 20, 11, 22, 23, 0],  # row 1's context, own position 2
            [2, 20, 31, 3, 0, 0],  # row 2's (its padding shows as 0)
            [2, 10, 11, 12, 0, 0],  # back to row 0's, own length
            [0] * 6,
        ],
    )  # the padding row stays padding
    for key in ("attention_mask", "mlm_weights", "segment_ids"):
        assert out[key] is batch[key]


def test_encoder_decoder_swaps_the_encoder_inputs_only():
    batch = {
        k: np.arange(12).reshape(3, 4) + i
        for i, k in enumerate(["inputs", "inputs_segment_ids", "inputs_positions", "targets", "decoder_inputs"])
    }
    batch["inputs_segment_ids"][2] = 0  # the last row is padding
    out = context_ablation("t5", "t5_span_corruption")(batch)
    for key in ("inputs", "inputs_segment_ids", "inputs_positions"):
        np.testing.assert_array_equal(out[key], batch[key][[1, 0, 2]])
    np.testing.assert_array_equal(out["targets"], batch["targets"])
    one_real = dict(batch, inputs_segment_ids=np.array([[1] * 4, [0] * 4, [0] * 4]))
    np.testing.assert_array_equal(context_ablation("bart", "bart_denoise")(one_real)["inputs"], batch["inputs"])


@pytest.mark.parametrize(
    "family,objective", [("gpt", "causal_lm"), ("bert", "jaxlm.projects.genre.objectives:classification")]
)
def test_refused_where_the_context_is_not_separable(family, objective):
    with pytest.raises(UserError, match="--context-ablation"):
        context_ablation(family, objective)
