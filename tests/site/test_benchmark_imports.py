"""The benchmarks import one way: benchmarks.run imports the benchmarks, the benchmarks
import what they share (data, client, report), and nothing imports benchmarks.run. Read
with `ast` (also the imports inside functions), so nothing here runs a benchmark."""

import ast
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def benchmark_imports() -> dict[str, set[str]]:
    """{module: the benchmarks modules it imports} for every module of benchmarks/."""
    modules = {f"benchmarks.{path.stem}" for path in BENCHMARKS.glob("*.py")}
    graph = {}
    for path in BENCHMARKS.glob("*.py"):
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
                found |= {f"{node.module}.{alias.name}" for alias in node.names}
        graph[f"benchmarks.{path.stem}"] = found & modules - {f"benchmarks.{path.stem}"}
    return graph


def test_no_benchmark_imports_the_runner():
    graph = benchmark_imports()
    assert [name for name, imported in graph.items() if "benchmarks.run" in imported] == []


def test_the_benchmarks_import_each_other_without_a_cycle():
    graph = benchmark_imports()
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, " -> ".join((*path, name))
        if name in done:
            return
        for imported in sorted(graph[name]):
            visit(imported, (*path, name))
        done.add(name)

    for name in sorted(graph):
        visit(name, ())


def test_the_runner_imports_every_benchmark_it_prints():
    assert {"benchmarks.bench_imports", "benchmarks.bench_save"} <= benchmark_imports()[
        "benchmarks.run"
    ]
