"""torch `nn.Linear` attention weights ↔ jaxlm's one attention layout (jaxlm.models.layers.Attention), both ways.

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
    params = (
        {"q": _heads([q], n_heads), "kv": _heads([k, v], n_heads)} if cross else {"qkv": _heads([q, k, v], n_heads)}
    )
    w, b = out
    params["out"] = {"kernel": w.T.reshape(n_heads, -1, w.shape[0])}
    if b is not None:
        params["out"]["bias"] = b
    return params


def linear_of(params: dict) -> Linear:
    """torch's (weight [out, in], bias or None) of a jaxlm dense's {"kernel" [in, out], "bias"}."""
    return params["kernel"].T, params.get("bias")


def _linears(params: dict, n: int) -> list[Linear]:
    """Inverse of `_heads`: a kernel [d_model, (n,) heads, head_dim] as `n` torch Linears."""
    kernel, bias = params["kernel"], params.get("bias")
    kernels = [kernel] if n == 1 else [kernel[:, i] for i in range(n)]
    biases = [bias] if n == 1 else [None if bias is None else bias[i] for i in range(n)]
    return [(k.reshape(k.shape[0], -1).T, None if b is None else b.reshape(-1)) for k, b in zip(kernels, biases)]


def attention_linears(params: dict, cross: bool) -> list[Linear]:
    """torch's four attention Linears (q, k, v, out) of jaxlm attention params: the inverse of attention_params."""
    qkv = _linears(params["q"], 1) + _linears(params["kv"], 2) if cross else _linears(params["qkv"], 3)
    out = params["out"]["kernel"]
    return qkv + [(out.reshape(-1, out.shape[-1]).T, params["out"].get("bias"))]


def linear_tensors(key: str, linear: Linear) -> dict[str, np.ndarray]:
    """A torch Linear's tensors by name: `{key}.weight`, and `{key}.bias` when it has one."""
    weight, bias = linear
    return {f"{key}.weight": weight} | ({} if bias is None else {f"{key}.bias": bias})


def attention_tensors(params: dict, keys: list[str], cross: bool) -> dict[str, np.ndarray]:
    """The tensors of torch's four attention Linears, named `keys` (q, k, v, out), of jaxlm attention params."""
    tensors: dict[str, np.ndarray] = {}
    for key, linear in zip(keys, attention_linears(params, cross)):
        tensors |= linear_tensors(key, linear)
    return tensors


def norm_tensors(key: str, params: dict) -> dict[str, np.ndarray]:
    """A torch LayerNorm's (or T5's RMSNorm's) tensors by name of jaxlm norm params {"scale"[, "bias"]}."""
    return linear_tensors(key, (params["scale"], params.get("bias")))
