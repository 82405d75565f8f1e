"""`jaxlm bench --profile`'s table: HLO ops sorted into categories, op time summed per step, idle time between
ops, loops left out (their bodies count), device events preferred over the host's (exact values on a made-up
module and trace; the real trace of a step is checked in test_bench)."""

import pytest

from jaxlm.bench.profile_table import category, hlo_ops, markdown, profile_table

HLO = """HloModule jit_train_step, entry_computation_layout={(f32[4,4]{1,0})->f32[4,4]{1,0}}

%fused_computation.1 (p0: f32[4,4], p1: f32[4,4]) -> f32[4,4] {
  %p0 = f32[4,4]{1,0} parameter(0)
  %p1 = f32[4,4]{1,0} parameter(1)
  ROOT %dot.1 = f32[4,4]{1,0} dot(%p0, %p1), lhs_contracting_dims={1}, rhs_contracting_dims={0}
}

%outer_fusion (p0: f32[4,4]) -> f32[4,4] {
  %p0.2 = f32[4,4]{1,0} parameter(0)
  ROOT %fusion.0 = f32[4,4]{1,0} fusion(%p0.2, %p0.2), kind=kCustom, calls=%fused_computation.1
}

%body (arg: (s32[], f32[4,4])) -> (s32[], f32[4,4]) {
  %arg = (s32[], f32[4,4]{1,0}) parameter(0)
  %x = f32[4,4]{1,0} get-tuple-element(%arg), index=1
  %add.9 = f32[4,4]{1,0} add(%x, %x), metadata={op_name="jit(train_step)/transpose(jvp(loss))/while/body/add"}
  ROOT %t = (s32[], f32[4,4]{1,0}) tuple(%arg, %add.9)
}

ENTRY %main.10 (Arg_0.1: f32[4,4]) -> (f32[4,4], f32[]) {
  %Arg_0.1 = f32[4,4]{1,0} parameter(0)
  %fusion.2 = f32[4,4]{1,0} fusion(%Arg_0.1), kind=kLoop, calls=%outer_fusion, metadata={op_name="jit(train_step)/jvp(GPT)/block_0/mlp/up/dot_general"}
  %dot.3 = f32[4,4]{1,0} dot(%Arg_0.1, %Arg_0.1), metadata={op_name="jit(train_step)/jvp(GPT)/block_0/attn/dot_general"}
  %dot.4 = f32[4,4]{1,0} dot(%Arg_0.1, %Arg_0.1), metadata={op_name="jit(train_step)/transpose(jvp(GPT))/block_0/attn/qkv/dot_general"}
  %while.5 = (s32[], f32[4,4]{1,0}) while(%t0), condition=%cond, body=%body
  %multiply.6 = f32[4,4]{1,0} multiply(%Arg_0.1, %Arg_0.1), metadata={op_name="jit(train_step)/optimizer/mul"}
  %all-reduce.7 = f32[4,4]{1,0} all-reduce(%Arg_0.1), replica_groups={}, to_apply=%sum
  %copy.8 = f32[4,4]{0,1} copy(%Arg_0.1)
  %reduce.11 = f32[] reduce(%Arg_0.1, %c), dimensions={0,1}, to_apply=%and, metadata={op_name="jit(train_step)/step_guard/reduce_and"}
  %custom-call.12 = f32[4,4]{1,0} custom-call(%Arg_0.1), custom_call_target="__cudnn$fmhaSoftmax"
  %exponential.13 = f32[4,4]{1,0} exponential(%Arg_0.1), metadata={op_name="jit(train_step)/jvp(GPT)/block_0/ln_mlp/exp"}
  ROOT %tuple.14 = (f32[4,4]{1,0}, f32[]) tuple(%fusion.2, %reduce.11)
}
"""

# (op, start µs, duration µs) of one step: 0-20 busy, 20-22 idle, 22-30 add.9 inside while.5 (20-40), 30-40 idle,
# 40-47 busy, 47-50 idle, 50-56 busy.
STEP = [
    ("fusion.2", 0, 10),
    ("dot.3", 10, 5),
    ("dot.4", 15, 5),
    ("while.5", 20, 20),
    ("add.9", 22, 8),
    ("multiply.6", 40, 4),
    ("all-reduce.7", 44, 2),
    ("copy.8", 46, 1),
    ("reduce.11", 50, 2),
    ("custom-call.12", 52, 3),
    ("exponential.13", 53, 3),
]


def _events(pid=1, runs=2, module="jit_train_step") -> list[dict]:
    return [
        {
            "ph": "X",
            "pid": pid,
            "tid": 7,
            "name": op,
            "ts": 100 * r + ts,
            "dur": dur,
            "args": {"hlo_module": module, "hlo_op": op, "run_id": str(r)},
        }
        for r in range(runs)
        for op, ts, dur in STEP
    ]


def _process(pid: int, name: str) -> dict:
    return {"ph": "M", "pid": pid, "name": "process_name", "args": {"name": name}}


def test_ops_are_categorised_by_opcode_fusion_contents_and_name_scope():
    module, ops = hlo_ops(HLO)
    assert module == "jit_train_step"
    assert ops["while.5"].opcode == "while" and ops["tuple.14"].opcode == "tuple"
    assert ops["fusion.2"].computes_dot  # through two levels of fusion
    assert {name: category(ops[name]) for name, _, _ in STEP if name != "while.5"} == {
        "fusion.2": "matmuls",
        "dot.3": "attention",
        "dot.4": "matmuls",
        "add.9": "loss",
        "multiply.6": "optimizer",
        "all-reduce.7": "collectives",
        "copy.8": "copies/transposes",
        "reduce.11": "step guard/metrics",
        "custom-call.12": "attention",
        "exponential.13": "norms/elementwise",
    }


def test_table_sums_op_time_per_step_and_idle_between_ops():
    noise = [
        {
            "ph": "X",
            "pid": 1,
            "tid": 7,
            "name": "x",
            "ts": 0,
            "dur": 99,
            "args": {"hlo_module": "jit_eval", "hlo_op": "dot.3"},
        },
        {"ph": "X", "pid": 1, "tid": 7, "name": "ThunkExecutor::Execute", "ts": 0, "dur": 99},
    ]
    table = profile_table([_process(1, "/host:CPU"), *_events(), *noise], HLO, steps=2)
    ms = {c: round(v["ms"] * 1e3, 6) for c, v in table["categories"].items()}  # µs per step
    assert ms == {
        "matmuls": 15,
        "attention": 8,
        "norms/elementwise": 3,
        "copies/transposes": 1,
        "loss": 8,
        "optimizer": 4,
        "step guard/metrics": 2,
        "collectives": 2,
    }
    assert table["events"] == 20  # the loop itself is left out: its body's add is counted
    assert (round(table["step_ms"] * 1e3, 6), round(table["busy_ms"] * 1e3, 6), round(table["idle_ms"] * 1e3, 6)) == (
        56,
        41,
        15,
    )
    assert sum(v["share"] for v in table["categories"].values()) == pytest.approx(1.0)
    assert table["top_ops"][0] == {
        "op": "fusion.2",
        "category": "matmuls",
        "ms": pytest.approx(0.010),
        "op_name": "jit(train_step)/jvp(GPT)/block_0/mlp/up/dot_general",
    }
    text = markdown(table)
    assert "| matmuls | 0.015 | 34.9% |" in text and "| *idle (no op running)* | 0.015 | — |" in text


def test_device_events_are_preferred_over_the_host_launches():
    device = [e | {"dur": 2 * e["dur"]} for e in _events(pid=2, runs=1)]
    table = profile_table(
        [_process(1, "/host:CPU"), _process(2, "/device:GPU:0"), *_events(runs=1), *device], HLO, steps=1
    )
    assert table["events"] == 10 and round(table["categories"]["matmuls"]["ms"] * 1e3, 6) == 30
