"""The guides name only code that exists: every module path, `module.name` and `name(args)` that
docs/ARCHITECTURE.md (and, for module paths and names, docs/TRAINING.md, docs/DATA.md and README.md) cites in
backquotes or in its run diagram is imported, and each documented signature's parameter names are compared with
`inspect.signature`. Imports only, no training."""

import ast
import importlib
import inspect
import os
import re

import pytest
from conftest import ROOT

from jaxlm.config.schema import base_config

GUIDE = "docs/ARCHITECTURE.md"
DOCS = (GUIDE, "docs/TRAINING.md", "docs/DATA.md", "README.md")
FILES = (
    ".py",
    ".md",
    ".json",
    ".jsonl",
    ".csv",
    ".txt",
    ".model",
    ".ipynb",
    ".sh",
    ".cfg",
    ".toml",
    ".yaml",
    ".bin",
    ".npy",
    ".lock",
    ".safetensors",
    ".png",
)
EXTERNAL = (
    "optax.",
    "jax.",
    "np.",
    "nn.",
    "flax.",
    "orbax.",
    "grain.",
    "torch.",
    "transformers.",
    "os.",
    "AutoTokenizer.",
)  # other projects' names: theirs to keep true
# The reader's own variables in the recipes, as the type whose attributes they are.
ALIASES = {
    "split": "jaxlm.objectives.base.SplitData",
    "objective": "jaxlm.objectives.base.Objective",
    "model": "flax.linen.Module",
}
# Names the reader writes (the recipes' placeholders), never jaxlm's own.
PLACEHOLDERS = {
    "NAME",
    "Module",
    "get_config",
    "check",
    "init_args",
    "encoder_states",
    "model_config",
    "convert_state_dict",
}
SPAN = re.compile(r"`([^`]+)`")
DOTTED = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+$")
CALL = re.compile(r"^([A-Za-z_][\w.]*)\((.*)\)$")
PATH = re.compile(r"^jaxlm/[\w/]*(?:\.py)?$")
SHORT_PATH = re.compile(r"^[\w/]+\.py$")  # `objectives/causal_lm.py`: a path inside jaxlm/


def _text(doc: str) -> str:
    with open(os.path.join(ROOT, doc), encoding="utf-8") as f:
        return f.read()


def _paragraphs(doc: str) -> list[tuple[list[str], list[str]]]:
    """(backquoted spans, dotted names of the plain ``` diagrams) of each paragraph or list item; code in
    ```python and ```bash blocks is not prose and is left out."""
    out, fenced, lang = [], False, ""
    for block in re.split(r"\n\s*\n|\n(?=\d+\. |- )", _text(doc)):
        prose, diagram = [], []
        for line in block.splitlines():
            if line.startswith("```"):
                fenced, lang = (not fenced), line[3:].strip()
                continue
            if fenced and not lang:
                diagram += re.findall(r"\b[a-z_]+(?:\.[a-z_]+)+\b", line)
            elif not fenced:
                prose.append(line.strip())
        out.append(([" ".join(s.split()) for s in SPAN.findall(" ".join(prose))], diagram))
    return out


def _index() -> dict[str, list[str]]:
    """Every top-level function, class and constant of jaxlm, by name: the modules that define it (no imports)."""
    names: dict[str, list[str]] = {}
    for dirpath, _, files in os.walk(os.path.join(ROOT, "jaxlm")):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(dirpath, f)
                module = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".").removesuffix(".__init__")
                with open(path, encoding="utf-8") as fh:
                    tree = ast.parse(fh.read())
                for node in tree.body:
                    targets = (
                        [node]
                        if isinstance(node, ast.FunctionDef | ast.ClassDef)
                        else [t for t in getattr(node, "targets", [getattr(node, "target", None)]) if t is not None]
                    )
                    for t in targets:
                        name = getattr(t, "name", None) or getattr(t, "id", None)
                        if name:
                            names.setdefault(name, []).append(module)
    return names


INDEX = _index()
MODULES = {m for ms in INDEX.values() for m in ms} | {
    os.path.relpath(os.path.join(d, f), ROOT)[:-3].replace(os.sep, ".").removesuffix(".__init__")
    for d, _, fs in os.walk(os.path.join(ROOT, "jaxlm"))
    for f in fs
    if f.endswith(".py")
}


def _config_key(dotted: str) -> bool:
    """`dotted` is a config key: a section of base_config() (`train.steps`) or of a sweep (`sweep.finetune`)."""
    if dotted.startswith("sweep."):
        from jaxlm.sweep.spec import SWEEP_DEFAULTS

        return dotted.removeprefix("sweep.") in SWEEP_DEFAULTS
    node = base_config()
    for part in dotted.removeprefix("config.").removeprefix("cfg.").split("."):
        if not hasattr(node, "keys") or part not in node:
            return False
        node = node[part]
    return True


def _attr(obj, names: list[str]):
    """obj.a.b..., where a dataclass field without a default or an attribute `__init__` sets also counts."""
    for name in names:
        fields = getattr(obj, "__dataclass_fields__", {})
        if name in fields and not hasattr(obj, name):
            obj = fields[name]
        elif inspect.isclass(obj) and not hasattr(obj, name) and f"self.{name} =" in inspect.getsource(obj):
            obj = None
        else:
            obj = getattr(obj, name)
    return obj


def resolve(dotted: str):
    """The object `dotted` names: jaxlm.a.b.c, a module suffix (`layers.EncoderDecoder`), or an alias's field."""
    parts = dotted.removeprefix("jaxlm.").split(".")
    head = ALIASES.get(parts[0])
    if head:
        module, _, name = head.rpartition(".")
        return _attr(getattr(importlib.import_module(module), name), parts[1:])
    for cut in range(len(parts), 0, -1):  # `train.step`: a module of jaxlm, by its full name
        if "jaxlm." + ".".join(parts[:cut]) in MODULES:
            return _attr(importlib.import_module("jaxlm." + ".".join(parts[:cut])), parts[cut:])
    if len(INDEX.get(parts[0], [])) == 1:  # `Family.losses`: a class or function by its own name
        return _attr(getattr(importlib.import_module(INDEX[parts[0]][0]), parts[0]), parts[1:])
    for cut in range(len(parts), 0, -1):
        prefix = ".".join(parts[:cut])
        candidates = [m for m in MODULES if m == "jaxlm." + prefix] or [m for m in MODULES if m.endswith("." + prefix)]
        if len(candidates) == 1:
            return _attr(importlib.import_module(candidates[0]), parts[cut:])
    raise AssertionError(f"`{dotted}` names no jaxlm module, function or class")


def _check_dotted(dotted: str) -> None:
    if dotted.endswith(FILES) or dotted.startswith(EXTERNAL) or _config_key(dotted):
        return
    resolve(dotted)


def _arguments(text: str) -> list[str]:
    args, depth, cur = [], 0, ""
    for ch in text:
        depth += (ch in "([{") - (ch in ")]}")
        if ch == "," and depth == 0:
            args.append(cur.strip())
            cur = ""
        else:
            cur += ch
    return [a for a in [*args, cur.strip()] if a]


def _check_signature(obj, name: str, args: list[str]) -> None:
    params = [p for p in inspect.signature(obj).parameters.values() if p.name != "self"]
    variadic = {p.kind for p in params} & {inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD}
    named, covered = [p.name for p in params], set()
    for i, arg in enumerate(a for a in args if a != "..."):
        key = re.match(r"^(\w+)\s*=", arg)
        ident = re.match(r"^(\w+)\s*(?::.*)?$", arg)
        if key:
            assert key[1] in named or variadic, f"{name}({', '.join(args)}): no parameter {key[1]!r}: {named}"
            covered.add(key[1])
        elif i < len(named):
            assert not ident or ident[1] == named[i], f"{name}({', '.join(args)}): parameter {i} is {named[i]!r}"
            covered.add(named[i])
    if "..." not in args:
        missing = [
            p.name
            for p in params
            if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name not in covered
        ]
        assert not missing, f"{name}({', '.join(args)}) leaves out required {missing}"


def _check_call(name: str, args: str, context: set[str]) -> None:
    if name in PLACEHOLDERS or name.startswith(EXTERNAL):
        return
    if "." in name:
        _check_signature(resolve(name), name, _arguments(args))
        return
    homes = [m for m in INDEX.get(name, []) if m in context] or INDEX.get(name, [])
    assert homes, f"`{name}(...)` is defined nowhere in jaxlm"
    for module in homes:
        _check_signature(getattr(importlib.import_module(module), name), name, _arguments(args))


def _context(spans: list[str]) -> set[str]:
    """The modules a paragraph names (its `jaxlm/x/y.py` paths and dotted modules), for its bare `name(args)`."""
    mods = set()
    for s in spans:
        s = s.split("(")[0].split("'")[0]
        if SHORT_PATH.match(s) and not s.startswith("jaxlm/"):
            s = "jaxlm/" + s
        if PATH.match(s):
            mods.add(s.removesuffix(".py").rstrip("/").replace("/", ".").removesuffix(".__init__"))
        elif DOTTED.match(s):
            mods |= {m for m in MODULES if m.endswith("." + s.removeprefix("jaxlm.")) or m == s}
    return mods


def _check_span(span: str, context: set[str], guide: bool) -> None:
    if PATH.match(span) and "NAME" not in span:  # NAME: the recipes' placeholder
        assert os.path.exists(os.path.join(ROOT, span)), f"`{span}` does not exist"
    elif DOTTED.match(span):
        _check_dotted(span)
    elif (call := CALL.match(span)) and guide:
        _check_call(call[1], call[2], context)


@pytest.mark.parametrize("doc", DOCS)
def test_every_named_module_function_and_signature_exists(doc):
    wrong = []
    for spans, diagram in _paragraphs(doc):
        context = _context(spans)
        for span in [*diagram, *(s.strip() for s in spans)]:
            try:
                _check_span(span, context, doc == GUIDE)
            except (AssertionError, AttributeError, ImportError, KeyError) as e:
                wrong.append(f"{span}: {e}")
    assert not wrong, f"{doc} names code that is not there:\n" + "\n".join(wrong)


def test_every_loss_takes_the_documented_arguments_in_one_order():
    """The guide's loss protocol `(apply_fn, params, batch, rng, train, norms=None)`; options keyword-only."""
    import jaxlm.losses as losses

    names = sorted(
        {
            n
            for n in INDEX
            if n.endswith("_loss") and not n.startswith("_") and any(m.startswith("jaxlm.losses.") for m in INDEX[n])
        }
    )
    assert names == ["causal_lm_loss", "classification_loss", "mlm_loss", "seq2seq_loss"]
    for name in names:
        module = importlib.import_module(next(m for m in INDEX[name] if m.startswith("jaxlm.losses.")))
        params = list(inspect.signature(getattr(module, name)).parameters.values())
        assert [p.name for p in params[:6]] == ["apply_fn", "params", "batch", "rng", "train", "norms"], name
        assert all(p.kind == p.KEYWORD_ONLY for p in params[5:]), name
    assert losses is not None


def test_the_guides_layers_are_setup_cfgs():
    """The Layers diagram of the guide lists setup.cfg's `layers` contract, lowest first, siblings as `a | b`."""
    import configparser

    parser = configparser.ConfigParser()
    parser.read(os.path.join(ROOT, "setup.cfg"))
    layers = [
        line.replace("jaxlm.", "").strip()
        for line in parser["importlinter:contract:layers"]["layers"].strip().splitlines()
    ][::-1]
    text = _text(GUIDE)
    diagram = text[text.index("## Layers") :].split("```")[1]
    siblings = lambda layer: sorted(name.strip() for name in layer.split("|"))
    assert [siblings(layer) for layer in diagram.split("→")] == [siblings(layer) for layer in layers]
