"""A PyTorch GPT built to be the same network and optimizer as jaxlm's GPT (jaxlm/models/gpt.py), for timing
jaxlm against PyTorch on the same machine.

Matches jaxlm: pre-LN blocks (LayerNorm with scale and bias, eps from the config), a fused QKV projection and
an output projection, both with biases; causal softmax attention scaled by 1/sqrt(head dim); a d→d_ff→d MLP
with biases and tanh-approximated GELU; learned token and position embeddings; a final LayerNorm and the
output projection tied to the token embedding (logits in fp32). Init as jaxlm's `gpt2` scheme: N(0, std)
kernels and token embedding, N(0, std/2) positions, residual output projections scaled by 1/sqrt(2·layers),
zero biases, unit LayerNorm scales. Optimizer: global-norm clipping, then AdamW with decoupled weight decay
on the matmul weights only (not embeddings, biases or norms), as `optim.name="adamw"`.
Differences: a constant learning rate (jaxlm warms up and decays; the cost is the same), the plain mean
cross-entropy over every position (jaxlm weights targets and drops the ones across document boundaries) and
is_causal attention without jaxlm's per-document segment mask.

    python benchmarks/torch_gpt.py --layers 4 --heads 4 --width 128 --seq 64 --batch 12 --vocab 8192
prints one JSON line: the median step time and tokens/s.
"""

import argparse
import json
import math
import statistics
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class Shape:
    layers: int
    heads: int
    width: int
    seq: int
    batch: int
    vocab: int
    d_ff: int = 0  # 0 = 4·width

    @property
    def hidden(self) -> int:
        return self.d_ff or 4 * self.width


@dataclass(frozen=True)
class Optim:
    lr: float = 1e-3
    b1: float = 0.9
    b2: float = 0.95
    eps: float = 1e-8
    weight_decay: float = 0.1
    clip: float = 1.0
    init_std: float = 0.02
    ln_eps: float = 1e-5


class Block(nn.Module):
    """x + Attn(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, shape: Shape, ln_eps: float):
        super().__init__()
        d = shape.width
        self.heads = shape.heads
        self.ln_attn, self.ln_mlp = nn.LayerNorm(d, eps=ln_eps), nn.LayerNorm(d, eps=ln_eps)
        self.qkv, self.attn_out = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.up, self.down = nn.Linear(d, shape.hidden), nn.Linear(shape.hidden, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln_attn(x)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.attn_out(y.transpose(1, 2).reshape(b, t, d))
        return x + self.down(F.gelu(self.up(self.ln_mlp(x)), approximate="tanh"))


class GPT(nn.Module):
    """tokens [B, T] → logits [B, T, vocab] through the tied token embedding."""

    def __init__(self, shape: Shape, optim: Optim = Optim()):
        super().__init__()
        self.embed = nn.Embedding(shape.vocab, shape.width)
        self.pos_embed = nn.Embedding(shape.seq, shape.width)
        self.blocks = nn.ModuleList(Block(shape, optim.ln_eps) for _ in range(shape.layers))
        self.ln_final = nn.LayerNorm(shape.width, eps=optim.ln_eps)
        self._init(shape.layers, optim.init_std)

    def _init(self, layers: int, std: float) -> None:
        """jaxlm's gpt2 init (LayerNorms keep PyTorch's ones/zeros, as jaxlm's do)."""
        nn.init.normal_(self.embed.weight, 0.0, std)
        nn.init.normal_(self.pos_embed.weight, 0.0, std / 2)
        for block in self.blocks:
            for linear, scale in (
                (block.qkv, 1.0),
                (block.up, 1.0),
                (block.attn_out, 1 / math.sqrt(2 * layers)),
                (block.down, 1 / math.sqrt(2 * layers)),
            ):
                nn.init.normal_(linear.weight, 0.0, std * scale)
                nn.init.zeros_(linear.bias)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens) + self.pos_embed(torch.arange(tokens.shape[1], device=tokens.device))
        for block in self.blocks:
            x = block(x)
        return self.ln_final(x) @ self.embed.weight.T


def optimizer(model: GPT, optim: Optim = Optim()) -> torch.optim.AdamW:
    """AdamW with weight decay on the Linear weights only (jaxlm's `kernel` leaves)."""
    decay = [m.weight for m in model.modules() if isinstance(m, nn.Linear)]
    chosen = {id(p) for p in decay}
    rest = [p for p in model.parameters() if id(p) not in chosen]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": optim.weight_decay}, {"params": rest, "weight_decay": 0.0}],
        lr=optim.lr,
        betas=(optim.b1, optim.b2),
        eps=optim.eps,
    )


def train_step(
    model: GPT, opt: torch.optim.Optimizer, inputs: torch.Tensor, targets: torch.Tensor, clip: float = Optim.clip
) -> torch.Tensor:
    """One optimizer step on the mean next-token cross-entropy; returns the loss."""
    logits = model(inputs)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if clip > 0:
        nn.utils.clip_grad_norm_(model.parameters(), clip)
    opt.step()
    return loss.detach()


def random_batch(shape: Shape, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, shape.vocab, (shape.batch, shape.seq + 1), generator=g)
    return tokens[:, :-1], tokens[:, 1:]


def time_steps(model: GPT, opt: torch.optim.Optimizer, batch, steps: int) -> tuple[list[float], float]:
    """(seconds of each of `steps` train steps on one batch, the last step's loss)."""
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        loss = train_step(model, opt, *batch)
        times.append(time.perf_counter() - start)
    return times, float(loss)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = {"layers": 4, "heads": 4, "width": 128, "seq": 64, "batch": 12, "vocab": 8192, "steps": 20, "threads": 2}
    for name, default in defaults.items():
        p.add_argument(f"--{name}", type=int, default=default)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    shape = Shape(a.layers, a.heads, a.width, a.seq, a.batch, a.vocab)
    model = GPT(shape)
    opt = optimizer(model)
    batch = random_batch(shape)
    time_steps(model, opt, batch, 3)
    step_s = statistics.median(time_steps(model, opt, batch, a.steps)[0])
    print(
        json.dumps(
            {
                "peer": "torch",
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "step_ms": 1e3 * step_s,
                "tokens_per_s": shape.batch * shape.seq / step_s,
            }
        )
    )


if __name__ == "__main__":
    main()
