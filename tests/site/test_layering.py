"""The packages of `diary` import one way only (docs/architecture.md, "Layers").

Each layer may import itself and the layers before it, never one after it: a rule that
needs something from a later layer belongs in that layer. The test reads every module's
imports (also those inside functions) with `ast`, so an upward import fails `make test`.
"""

import ast
from pathlib import Path

import pytest

DIARY = Path(__file__).resolve().parents[2] / "diary"

# Lowest first. A module belongs to the first prefix it starts with.
LAYERS = [
    ("base", ["diary.security", "diary.links", "diary.migration_history"]),
    ("audit", ["diary.audit"]),
    ("people", ["diary.people"]),
    ("jobs", ["diary.jobs"]),
    ("trial", ["diary.trial"]),
    ("visits", ["diary.visits"]),
    ("entries", ["diary.entries"]),
    ("queries", ["diary.queries"]),
    ("figures", ["diary.figures"]),
    ("signoff", ["diary.signoff"]),
    ("access", ["diary.access"]),
    ("files", ["diary.files"]),
    (
        "site",
        [
            "diary.views",
            "diary.admin",
            "diary.management",
            "diary.templatetags",
            "diary.urls",
            "diary.tasks",
            "diary.admin_site",
            "diary.apps",
            "diary.models",
        ],
    ),
]
RANK = {prefix: rank for rank, (_name, prefixes) in enumerate(LAYERS) for prefix in prefixes}


def layer_of(module: str) -> int | None:
    for prefix, rank in sorted(RANK.items(), key=lambda item: -len(item[0])):
        if module == prefix or module.startswith(prefix + "."):
            return rank
    return None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(DIARY.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(name: str, source: str, is_package: bool = False) -> set[str]:
    """The diary modules that module `name` imports: `from diary.x import y` names
    diary.x.y when that is a module, else diary.x; relative imports are resolved."""
    package = name if is_package else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(source, name)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                as_path = DIARY.parent / Path(*candidate.split("."))
                is_module = as_path.with_suffix(".py").exists() or as_path.is_dir()
                found.add(candidate if is_module else base)
    return {module for module in found if module == "diary" or module.startswith("diary.")}


def source_files() -> list[Path]:
    return sorted(p for p in DIARY.rglob("*.py") if "migrations" not in p.parts)


def problems_of(name: str, source: str, is_package: bool = False) -> list[str]:
    """The imports of module `name` that go up the layers or out of them."""
    own = layer_of(name)
    if own is None:
        return [f"{name} is in no layer of tests/site/test_layering.py"]
    problems = []
    for imported in sorted(imported_modules(name, source, is_package)):
        theirs = layer_of(imported)
        if theirs is None:
            problems.append(f"{name} imports {imported}, which is in no layer")
        elif theirs > own:
            problems.append(f"{name} ({LAYERS[own][0]}) imports {imported} ({LAYERS[theirs][0]})")
    return problems


def upward_imports() -> list[str]:
    problems = []
    for path in source_files():
        name = module_name(path)
        if name != "diary":
            problems += problems_of(name, path.read_text(), path.name == "__init__.py")
    return problems


def test_every_package_imports_only_the_layers_below_it():
    assert upward_imports() == []


@pytest.mark.parametrize(
    ("module", "layer"),
    [
        ("diary.people.accounts", "people"),
        ("diary.trial.blinding", "trial"),
        ("diary.files.imports", "files"),
        ("diary.admin_site", "site"),
        ("diary.access", "access"),
    ],
)
def test_modules_fall_in_the_layer_of_their_folder(module, layer):
    assert LAYERS[layer_of(module)][0] == layer


def test_an_upward_import_is_caught():
    source = "import datetime\nfrom diary.figures import summaries\nfrom diary import access\n"
    assert problems_of("diary.trial.probe", source) == [
        "diary.trial.probe (trial) imports diary.access (access)",
        "diary.trial.probe (trial) imports diary.figures.summaries (figures)",
    ]


def test_an_import_inside_a_function_or_relative_is_read():
    source = "def f():\n    from ..files import exports\n"
    assert problems_of("diary.entries.probe", source) == [
        "diary.entries.probe (entries) imports diary.files.exports (files)"
    ]
