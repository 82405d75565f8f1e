"""Claim: on a small GPT, SGD with momentum trains far worse than Adam at the same step budget, and Adafactor
matches Adam while keeping much less optimizer state (factored second moments, no first moment).
Source: Shazeer & Stern 2018, "Adafactor: Adaptive Learning Rates with Sublinear Memory Cost", §3, §7 (Table 2);
Zhang et al. 2020, "Why are Adaptive Methods Good for Attention Models?", §3, Fig. 1 (SGD ≪ Adam on Transformers).
Expected: val_loss adam ≈ adafactor < sgd_momentum; opt_state_to_params ≈ 2 (adam), 1 (sgd), < 1 (adafactor).
Learning rates (standard values, not searched): SGD 0.1 with momentum 0.9 (the classic ResNet setting), Adam 3e-3
(this repo's small-GPT default, β2 0.95), Adafactor 1e-2 (its relative step size: T5's and the paper's
min(1e-2, 1/√t) cap). Every variant: global-norm clip 1.0, linear warmup over 20 steps (250 at accelerator
scale) then cosine to 10%, no weight decay (decoupled decay is ×lr: one coefficient would mean very different
decay for SGD and Adam).
Adafactor factors the second moment of every kernel seen as the matrix it applies (jaxlm/optim/matrix_view.py)
when both sides are ≥ 128; only biases and norms keep full second moments. Every run records param_bytes,
opt_state_bytes and opt_state_to_params.
Runtime (cpu scale, 2 cores): 616 s for 3 variants × 5 seeds (2 × 128 GPT, 150 steps of 16 × 64 tokens; the
runs' wall times added up, 2 cores shared with other sweeps, load average 2–9).
Result (cpu scale, 5 seeds, experiments/ablations/results/optimizers/): Adam < SGD and Adafactor < SGD agree
(paired val_loss differences −0.43, CI [−0.73, −0.13]; −0.18, CI [−0.28, −0.08]); Adam ≈ Adafactor within ±0.05
is not resolved: Adam is ahead (−0.25, CI [−0.49, −0.01]) with a wide seed spread (Adam 5.47–5.96 at 150 steps);
optimizer state / params 2.0 (Adam), 1.0 (SGD), 0.022 (Adafactor). 3 seeds left Adam < SGD unresolved (CI ±0.68),
so the sweep was extended to 5.
Seeds: 5 (0–4) at both scales.
Command: jaxlm sweep --config experiments/ablations/optimizers.py --workdir runs/optimizers [--scale accelerator]
"""

import ml_collections

from jaxlm.config.schema import base_config
from jaxlm.sweep.claims import expect, expect_equivalent


def get_config(scale: str = "cpu") -> ml_collections.ConfigDict:
    """A 2 × 128 GPT for 150 steps (cpu) or a 6 × 384 GPT for 5000 steps (accelerator); AdamW's settings."""
    c = base_config()
    cpu = scale == "cpu"
    c.model.update(
        n_layers=2 if cpu else 6,
        n_heads=4 if cpu else 6,
        d_model=128 if cpu else 384,
        d_ff=512 if cpu else 1536,
        vocab_size=4096,
        max_len=64 if cpu else 256,
    )
    c.data.update(seq_len=64 if cpu else 256)
    c.train.update(
        steps=150 if cpu else 5000,
        batch_size=16 if cpu else 64,
        log_every=10 if cpu else 100,
        eval_every=75 if cpu else 1000,
        eval_batches=4 if cpu else 0,
        eval_batch_size=32,
        checkpoint_every=150 if cpu else 1000,
        sample_tokens=0,
    )
    c.optim.update(warmup=20 if cpu else 250, schedule="cosine", final_lr_frac=0.1, weight_decay=0.0, clip=1.0)
    c.sweep = {
        "seeds": (0, 1, 2, 3, 4),
        "metrics": ("val_loss", "opt_state_bytes", "opt_state_to_params"),
        "finetune": "",
        "claims": (
            expect("adam", "<", "sgd_momentum", metric="val_loss"),
            expect("adafactor", "<", "sgd_momentum", metric="val_loss"),
            expect_equivalent("adam", "adafactor", metric="val_loss", margin=0.05),
            expect("adam", ">", "adafactor", metric="opt_state_to_params"),
        ),
    }
    return c


def get_variants(scale: str = "cpu") -> dict[str, dict[str, object]]:
    """SGD with momentum, Adam and Adafactor, each at its standard learning rate."""
    return {
        "sgd_momentum": {"optim.name": "sgd", "optim.peak_lr": 0.1, "optim.momentum": 0.9},
        "adam": {"optim.name": "adam", "optim.peak_lr": 3e-3},
        "adafactor": {"optim.name": "adafactor", "optim.peak_lr": 1e-2},
    }
