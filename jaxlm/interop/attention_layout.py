"""torch `nn.Linear` attention weights → jaxlm's one attention layout (jaxlm.models.layers.Attention).

Self-attention: `qkv` [d_model, 3, heads, head_dim]; cross-attention: `q` [d_model, heads, head_dim] and `kv`
[d_model, 2, heads, head_dim]; both: `out` [heads, head_dim, d_model]. Biases drop the d_model axis.
"""

import numpy as np

Linear = tuple[np.ndarray, np.ndarray | None]  # a torch Linear's (weight [out, in], bias [out] or None)


def _heads(linears: list[Linear], n_heads: int) -> dict:
    """Projections d_model → heads·head_dim as one kernel [d_model, (n,) heads, head_dim] (stacked when n > 1)."""
    def join(xs, axis):
        return xs[0] if len(xs) == 1 else np.stack(xs, axis)
    params = {"kernel": join([w.T.reshape(w.shape[1], n_heads, -1) for w, _ in linears], 1)}
    if linears[0][1] is not None:
        params["bias"] = join([b.reshape(n_heads, -1) for _, b in linears], 0)
    return params


def attention_params(q: Linear, k: Linear, v: Linear, out: Linear, n_heads: int, cross: bool) -> dict:
    """jaxlm attention params of torch's four attention Linears."""
    params = {"q": _heads([q], n_heads), "kv": _heads([k, v], n_heads)} if cross else \
        {"qkv": _heads([q, k, v], n_heads)}
    w, b = out
    params["out"] = {"kernel": w.T.reshape(n_heads, -1, w.shape[0])}
    if b is not None:
        params["out"]["bias"] = b
    return params
