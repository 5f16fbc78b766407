"""Every DVC stage depends on exactly the project modules its command runs.

The command of a stage is ``bnstudy <sub> ...``; ``bnstudy`` is ``bnstudy.cli:main``
(pyproject.toml), whose argparse set-up maps ``<sub>`` to a function: a ``cmd_*`` function,
or ``_stage("<pipeline function>")``. The modules that run are found by a static import
closure (:func:`stage_modules`), and compared with the stage's ``src/`` deps both ways:

- a reached module that no dep covers: editing it would not rerun the stage (stale outputs);
- a dep file (or a .py file under a dep folder) that is not reached: editing it reruns the
  stage for nothing.
"""

from __future__ import annotations

import ast
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from bnstudy.paths import CODE_ROOT

SRC = CODE_ROOT / "src"
PACKAGE = "bnstudy"


# --- the static import closure ---------------------------------------------------------------


def module_file(name: str) -> Path | None:
    """The file of module ``name`` (``a.b`` -> src/a/b.py or src/a/b/__init__.py), if ours."""
    base = SRC.joinpath(*name.split("."))
    for f in (base.with_suffix(".py"), base / "__init__.py"):
        if f.is_file():
            return f
    return None


def file_module(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def with_packages(name: str) -> set[Path]:
    """``import a.b.c`` runs a/__init__.py, a/b/__init__.py and a/b/c.py (those that are ours)."""
    parts = name.split(".")
    files = {module_file(".".join(parts[: i + 1])) for i in range(len(parts))}
    return {f for f in files if f is not None}


def _is_type_checking(node: ast.AST) -> bool:
    t = node.test if isinstance(node, ast.If) else None
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


def import_nodes(node: ast.AST, *, into_functions: bool) -> list[ast.Import | ast.ImportFrom]:
    """Import statements under ``node``, in function bodies too if ``into_functions``; never
    those under ``if TYPE_CHECKING:`` (they do not run)."""
    out = []
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, ast.Import | ast.ImportFrom):
            out.append(n)
            continue
        if _is_type_checking(n):
            stack.extend(n.orelse)
            continue
        if (
            n is not node
            and not into_functions
            and isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        ):
            continue
        stack.extend(ast.iter_child_nodes(n))
    return out


def imported_files(nodes: list[ast.Import | ast.ImportFrom], importer: Path) -> set[Path]:
    """Our files that these import statements run.

    ``from bnstudy.engines import x`` runs bnstudy/__init__.py, engines/__init__.py and
    engines/x.py when x is a module; ``from bnstudy import stats`` runs bnstudy/stats.py.
    """
    files: set[Path] = set()
    for n in nodes:
        if isinstance(n, ast.Import):
            for alias in n.names:
                files |= with_packages(alias.name)
            continue
        base = n.module or ""
        if n.level:  # relative: from the importer's package
            pkg = file_module(importer).split(".")
            if importer.name != "__init__.py":
                pkg = pkg[:-1]
            pkg = pkg[: len(pkg) - (n.level - 1)]
            base = ".".join([*pkg, base] if base else pkg)
        if base.split(".")[0] != PACKAGE:
            continue
        files |= with_packages(base)
        for alias in n.names:
            sub = module_file(f"{base}.{alias.name}")
            if sub is not None:
                files.add(sub)
    return files


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def function(tree: ast.Module, name: str) -> ast.FunctionDef:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
    raise AssertionError(f"no module-level function {name}()")


def same_module_calls(tree: ast.Module, names: list[str]) -> set[str]:
    """``names`` plus the module-level functions they call by name, transitively
    (pipeline.run_study -> build_data, train, analyze, report)."""
    defs = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    seen, todo = set(names), list(names)
    while todo:
        for n in ast.walk(function(tree, todo.pop())):
            called = n.func.id if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) else ""
            if called in defs and called not in seen:
                seen.add(called)
                todo.append(called)
    return seen


def closure(start: set[Path], expanded: set[Path]) -> set[Path]:
    """``start`` plus every file they import (module level and inside any function),
    transitively; the files in ``expanded`` are taken as already followed."""
    seen, todo = set(start), [f for f in start if f not in expanded]
    while todo:
        f = todo.pop()
        for g in imported_files(import_nodes(parse(f), into_functions=True), f):
            if g not in seen:
                seen.add(g)
                if g not in expanded:
                    todo.append(g)
    return seen


# --- what `bnstudy <sub>` runs -----------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """``bnstudy <sub>``: a cli function, or ``_stage(<pipeline function>)``."""

    function: str
    stage: str | None = None


def _value(node: ast.expr, env: dict) -> object:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return env.get(node.id, Command(node.id))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return Command(node.func.id, _value(node.args[0], env))
    raise AssertionError(f"cannot read {ast.unparse(node)} statically")


def _registrations(stmts: list[ast.stmt], env: dict, out: dict) -> None:
    """Follow ``add_parser(<name>)`` ... ``set_defaults(fn=<f>)`` through statements, unrolling
    ``for`` loops over literal tuples."""
    for stmt in stmts:
        if isinstance(stmt, ast.For) and isinstance(stmt.iter, ast.Tuple):
            for item in stmt.iter.elts:
                values = [_value(e, env) for e in item.elts]
                names = [t.id for t in stmt.target.elts]
                _registrations(stmt.body, {**env, **dict(zip(names, values, strict=True))}, out)
            continue
        calls = [n for n in ast.walk(stmt) if isinstance(n, ast.Call)]
        attr = {id(c): c.func.attr for c in calls if isinstance(c.func, ast.Attribute)}
        for c in calls:
            if attr.get(id(c)) == "add_parser":
                out["_current"] = _value(c.args[0], env)
        for c in calls:
            if attr.get(id(c)) == "set_defaults":
                (fn,) = [k.value for k in c.keywords if k.arg == "fn"]
                out[out["_current"]] = _value(fn, env)


def commands() -> dict[str, Command]:
    """``<sub>`` -> the Command that ``bnstudy <sub>`` runs, read from cli.main."""
    scripts = tomllib.loads((CODE_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["bnstudy"] == "bnstudy.cli:main"
    out: dict = {}
    _registrations(function(parse(module_file("bnstudy.cli")), "main").body, {}, out)
    out.pop("_current", None)
    return out


def stage_modules(sub: str) -> set[Path]:
    """The bnstudy files ``bnstudy <sub>`` runs.

    cli.py's module-level imports and those inside the command's function; when that function
    imports bnstudy.pipeline: pipeline.py's module-level imports and those inside the pipeline
    function(s) it calls (``_stage("analyze")`` -> pipeline.analyze; ``pipeline.ledger(...)``);
    then everything those import, transitively.
    """
    cli, pipeline = module_file("bnstudy.cli"), module_file("bnstudy.pipeline")
    command = commands()[sub]
    tree = parse(cli)
    fn = function(tree, command.function)
    nodes = import_nodes(tree, into_functions=False) + import_nodes(fn, into_functions=True)
    files = with_packages("bnstudy.cli") | imported_files(nodes, cli)
    if pipeline in files:
        called = (
            [command.stage]
            if command.stage is not None
            else [
                n.func.attr
                for n in ast.walk(fn)
                if isinstance(n, ast.Call)
                and isinstance(n.func, ast.Attribute)
                and isinstance(n.func.value, ast.Name)
                and n.func.value.id == "pipeline"
            ]
        )
        assert called, f"bnstudy {sub}: imports bnstudy.pipeline but calls none of its functions"
        ptree = parse(pipeline)
        pnodes = import_nodes(ptree, into_functions=False)
        for name in same_module_calls(ptree, called):
            pnodes += import_nodes(function(ptree, name), into_functions=True)
        files |= imported_files(pnodes, pipeline)
    return closure(files, expanded={cli, pipeline})


# --- dvc.yaml ----------------------------------------------------------------------------------


def dvc_stages() -> dict[str, dict]:
    """Stage name -> its definition (the ``do`` block of a foreach stage)."""
    stages = yaml.safe_load((CODE_ROOT / "dvc.yaml").read_text())["stages"]
    return {name: s.get("do", s) for name, s in stages.items()}


def dep_paths(stage: dict) -> list[str]:
    return [next(iter(d)) if isinstance(d, dict) else d for d in stage.get("deps", [])]


def rel(path: Path) -> str:
    return path.relative_to(CODE_ROOT).as_posix()


STAGES = dvc_stages()


def test_the_closure_reads_the_imports_it_should():
    """Guards the analysis itself, so that an empty or partial closure cannot pass."""
    subs = commands()
    assert subs["data"] == Command("_stage", "build_data")
    assert subs["analyze"] == Command("_stage", "analyze")
    assert subs["ledger"] == Command("cmd_ledger")
    analyze = {rel(f) for f in stage_modules("analyze")}
    # aggregate imports claims inside aggregate(); claims imports verdicts at module level.
    assert {"src/bnstudy/aggregate.py", "src/bnstudy/claims.py", "src/bnstudy/verdicts.py"} <= (
        analyze
    )
    # pipeline.train's imports are not followed for the analyze stage.
    assert "src/bnstudy/train.py" not in analyze
    # pipeline.run_study calls the stage functions of its own module.
    assert {"src/bnstudy/train.py", "src/bnstudy/report.py"} <= {
        rel(f) for f in stage_modules("study")
    }
    train = {rel(f) for f in stage_modules("train")}
    assert {"src/bnstudy/train.py", "src/bnstudy/engines/vectorized.py"} <= train
    assert "src/bnstudy/aggregate.py" not in train


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_code_deps_are_exactly_the_modules_it_runs(name):
    stage = STAGES[name]
    cmds = [stage["cmd"]] if isinstance(stage["cmd"], str) else stage["cmd"]
    reached = set()
    for cmd in (c.split() for c in cmds):
        assert cmd[0] == "bnstudy", f"stage {name}: expected `bnstudy <sub> ...`, got {cmd}"
        reached |= {rel(f) for f in stage_modules(cmd[1])}
    code = [d.rstrip("/") for d in dep_paths(stage) if d.startswith("src/")]
    missing = sorted(f for f in reached if not any(f == d or f.startswith(f"{d}/") for d in code))
    in_deps = set()
    for d in code:
        p = CODE_ROOT / d
        assert p.exists(), f"stage {name}: dep {d} does not exist"
        in_deps |= {rel(f) for f in p.rglob("*.py")} if p.is_dir() else {d}
    superfluous = sorted(in_deps - reached)
    assert not missing and not superfluous, (
        f"stage {name} (`{stage['cmd']}`): modules it runs but does not depend on: {missing}; "
        f"deps it does not run: {superfluous}"
    )
