"""Where a train step's time goes: a jax.profiler trace of the timed steps, summed by kind of operation.

Every trace event that names an HLO op of the step's module (`args.hlo_op`; device events where the trace has
any, as on a GPU, else the host's XLA:CPU thunks) is matched to the compiled step's HLO text and put in one
category: collectives; optimizer and loss, by the named scopes that `train_step` and the vocabulary losses open
(the loss includes the output projection it fuses with the cross-entropy); attention (ops of an attention module
other than its projections, or a fused attention kernel); matmuls (a dot or convolution, alone or inside a
fusion, or a GEMM library call); step guard and metrics; copies/transposes; and norms and other elementwise
work. Loops and calls are left out (their bodies' ops are counted). Idle is the step's wall time (first op to
last, per step) that no op covers.
"""

import gzip
import json
import re
from dataclasses import dataclass

CATEGORIES = (
    "matmuls",
    "attention",
    "norms/elementwise",
    "copies/transposes",
    "loss",
    "optimizer",
    "step guard/metrics",
    "collectives",
)
CONTAINERS = {"while", "conditional", "call", "async-start", "async-done", "async-update"}  # time of their bodies
COLLECTIVE = re.compile(r"(all-reduce|all-gather|reduce-scatter|all-to-all|collective-permute|send|recv)")
LAYOUT = {"copy", "transpose", "bitcast", "copy-start", "copy-done", "reshape", "dynamic-update-slice"}
ATTENTION_MODULES = {"attn", "self_attn", "cross_attn", "attention"}
PROJECTIONS = {"qkv", "q", "kv", "k", "v", "out", "query", "key", "value"}
WRAPPED = re.compile(r"^(?:[\w\-]+\()+([^()]*)\)+$")  # a scope under transformations: transpose(jvp(GPT))
INSTRUCTION = re.compile(r"^\s*(?:ROOT\s+)?%([\w.\-]+) = ")
COMPUTATION = re.compile(r"^(?:ENTRY\s+)?%([\w.\-]+)\s.*\{\s*$")


@dataclass(frozen=True)
class HloOp:
    opcode: str
    op_name: str  # jax's name stack, e.g. jit(train_step)/transpose(jvp(GPT))/block_0/mlp/up/dot_general
    computes_dot: bool  # a dot or convolution, or a fusion / GEMM call that holds one
    target: str = ""  # a custom-call's target


def _opcode(rest: str) -> str:
    """The opcode of an instruction's text after ' = ': skip its (possibly tuple) type, take the word before '('."""
    end, depth = 0, 0
    if rest.startswith("("):  # a tuple type: up to its closing parenthesis
        while end < len(rest):
            depth += (rest[end] == "(") - (rest[end] == ")")
            end += 1
            if depth == 0:
                break
    else:
        end = max(rest.find(" "), 0)
    m = re.match(r"\s*([\w\-]+)\(", rest[end:])
    return m.group(1) if m else ""


def hlo_ops(hlo_text: str) -> tuple[str, dict[str, HloOp]]:
    """(module name, {instruction name: HloOp}) of a compiled module's text (`compiled.as_text()`)."""
    module = re.search(r"HloModule\s+([\w.\-]+)", hlo_text)
    comp_opcodes: dict[str, set[str]] = {}
    raw: list[tuple[str, str, str, str, str, str]] = []  # name, opcode, op_name, calls, target, computation
    current = ""
    for line in hlo_text.splitlines():
        head = COMPUTATION.match(line)
        if head and " = " not in line:
            current = head.group(1)
            continue
        m = INSTRUCTION.match(line)
        if not m:
            continue
        rest = line[m.end() :]
        opcode = _opcode(rest)
        op_name = re.search(r'op_name="([^"]*)"', rest)
        calls = re.search(r"calls=%([\w.\-]+)", rest)
        target = re.search(r'custom_call_target="([^"]*)"', rest)
        comp_opcodes.setdefault(current, set()).add(opcode)
        raw.append(
            (
                m.group(1),
                opcode,
                op_name.group(1) if op_name else "",
                calls.group(1) if calls else "",
                target.group(1) if target else "",
                current,
            )
        )

    calls_of: dict[str, set[str]] = {}
    for _, _, _, calls, _, owner in raw:
        if calls:
            calls_of.setdefault(owner, set()).add(calls)
    memo: dict[str, bool] = {}

    def has_dot(comp: str) -> bool:
        if comp not in memo:
            memo[comp] = False  # a cycle (none in HLO) ends here
            memo[comp] = bool(comp_opcodes.get(comp, set()) & {"dot", "convolution"}) or any(
                has_dot(c) for c in calls_of.get(comp, ())
            )
        return memo[comp]

    ops = {}
    for name, opcode, op_name, calls, target, _ in raw:
        gemm = opcode == "custom-call" and re.search(r"gemm|matmul|cublas", target, re.I) is not None
        dot = opcode in ("dot", "convolution") or gemm or (opcode == "fusion" and calls and has_dot(calls))
        ops[name] = HloOp(opcode, op_name, bool(dot), target)
    return (module.group(1) if module else ""), ops


def category(op: HloOp) -> str:
    """The op's category (one of CATEGORIES)."""
    parts = [WRAPPED.sub(r"\1", part) for part in op.op_name.split("/")]  # jvp(loss) → loss
    if COLLECTIVE.match(op.opcode):
        return "collectives"
    if "optimizer" in parts:
        return "optimizer"
    if "loss" in parts:
        return "loss"
    if re.search(r"fmha|flash|attention", op.target, re.I):
        return "attention"
    for i, part in enumerate(parts):
        if part in ATTENTION_MODULES and (i + 1 >= len(parts) or parts[i + 1] not in PROJECTIONS):
            return "attention"
    if op.computes_dot:
        return "matmuls"
    if "step_guard" in parts:
        return "step guard/metrics"
    if op.opcode in LAYOUT:
        return "copies/transposes"
    return "norms/elementwise"


def _union_us(intervals: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for s, e in sorted(intervals):
        if e > end:
            total += e - max(s, end)
            end = e
    return total


def profile_table(trace_events: list[dict], hlo_text: str, steps: int, top: int = 10) -> dict:
    """Per step: wall, busy and idle ms, ms and share of op time by category, and the `top` costliest ops."""
    module, ops = hlo_ops(hlo_text)
    ours = [
        e
        for e in trace_events
        if e.get("ph") == "X"
        and e.get("args", {}).get("hlo_module") == module
        and e["args"].get("hlo_op") in ops
        and ops[e["args"]["hlo_op"]].opcode not in CONTAINERS
    ]
    devices = {
        e["pid"]
        for e in trace_events
        if e.get("ph") == "M"
        and e.get("name") == "process_name"
        and str(e.get("args", {}).get("name", "")).startswith("/device:")
    }
    if any(e["pid"] in devices for e in ours):
        ours = [e for e in ours if e["pid"] in devices]
    by_op: dict[str, float] = {}
    for e in ours:
        by_op[e["args"]["hlo_op"]] = by_op.get(e["args"]["hlo_op"], 0.0) + float(e.get("dur", 0.0))
    runs: dict[str, list[tuple[float, float]]] = {}
    for e in ours:
        runs.setdefault(str(e["args"].get("run_id", "all")), []).append((e["ts"], e["ts"] + e.get("dur", 0.0)))
    wall = sum(max(b for _, b in iv) - min(a for a, _ in iv) for iv in runs.values())
    busy = sum(_union_us(iv) for iv in runs.values())
    total = sum(by_op.values())
    sums = dict.fromkeys(CATEGORIES, 0.0)
    for name, us in by_op.items():
        sums[category(ops[name])] += us
    ms = 1e-3 / max(steps, 1)
    return {
        "module": module,
        "steps": steps,
        "events": len(ours),
        "step_ms": wall * ms,
        "busy_ms": busy * ms,
        "idle_ms": (wall - busy) * ms,
        "categories": {c: {"ms": v * ms, "share": v / total if total else 0.0} for c, v in sums.items()},
        "top_ops": [
            {"op": n, "category": category(ops[n]), "ms": us * ms, "op_name": ops[n].op_name}
            for n, us in sorted(by_op.items(), key=lambda kv: -kv[1])[:top]
        ],
    }


def read_trace(path: str) -> list[dict]:
    """The events of a jax.profiler `*.trace.json.gz`."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return json.load(f)["traceEvents"]


def markdown(table: dict) -> str:
    """The table as Markdown rows: category, ms per step, share of op time; then wall, busy and idle."""
    rows = ["| category | ms per step | share of op time |", "|---|---:|---:|"]
    rows += [f"| {c} | {v['ms']:.3f} | {100 * v['share']:.1f}% |" for c, v in table["categories"].items()]
    rows.append(f"| *idle (no op running)* | {table['idle_ms']:.3f} | — |")
    rows.append(f"| *wall, first op to last* | {table['step_ms']:.3f} | — |")
    return "\n".join(rows)
