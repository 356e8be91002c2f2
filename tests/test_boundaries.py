"""Import boundaries, read from each module's own import statements (its AST).

1. Roles never import the composition root: no module of a role package imports
   ``photosync.services``, ``photosync.app`` or ``photosync.cli``, directly or through other
   photosync modules (as the role CLIs once did through ``cli_support``). The top-level CLI and
   app build the services and hand them to the roles, so there is no package cycle.
2. The domain imports no web: services, stores, models, interfaces, the sync engine, policy and
   records, the principal's rules (``access``), cookie signing, settings, and everything in
   ``imaging`` and ``blobs``, import neither FastAPI nor Starlette, nor a photosync module that
   does (such as ``directory/auth.py`` or ``web.py``).

Every ``import`` counts, wherever it is: at the top, in a function, or under ``TYPE_CHECKING``
(a type-only import is still a dependency a reader must follow).
"""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from collections.abc import Mapping
from functools import cache
from pathlib import Path

import pytest

import photosync

ROOT = Path(photosync.__file__).resolve().parent
ROLES = ("directory", "mailbox", "sites", "sync", "portal", "imaging", "blobs", "avatar")
COMPOSITION_ROOT = ("photosync.services", "photosync.app", "photosync.cli")
WEB = ("fastapi", "starlette")
DOMAIN_MODULES = frozenset(
    {"services", "service", "store", "models", "interfaces", "engine", "policy", "records"}
    # The principal and its rules (directory/access.py), and cookie signing.
    | {"access", "cookies", "settings"}
    # Sync's bulk runs, diagnostic and in-memory connectors.
    | {"bulk", "diagnostic", "memory", "sources", "targets"}
)
DOMAIN_PACKAGES = ("imaging", "blobs")

# Modules allowed to break the rule for now (none): a stale entry fails below.
KNOWN_VIOLATIONS: frozenset[str] = frozenset()


def _modules() -> dict[str, Path]:
    found = {"photosync": ROOT / "__init__.py"}
    for info in pkgutil.walk_packages([str(ROOT)], prefix="photosync."):
        base = ROOT.joinpath(*info.name.split(".")[1:])
        found[info.name] = base / "__init__.py" if info.ispkg else base.with_suffix(".py")
    return found


MODULES = _modules()


@cache
def imports_of(module: str) -> frozenset[str]:
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    return imports_in(path.read_text(), package)


def imports_in(source: str, package: str) -> frozenset[str]:
    """Every module ``source`` names in an import statement (``from a import b``: a and a.b)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            names.add(source)
            names.update(f"{source}.{alias.name}" for alias in node.names)
    return frozenset(names)


def _within(name: str, modules: tuple[str, ...]) -> bool:
    return any(name == m or name.startswith(f"{m}.") for m in modules)


def imports_web(module: str) -> bool:
    return any(_within(name, WEB) for name in imports_of(module))


def is_domain(module: str) -> bool:
    parts = module.split(".")
    return parts[-1] in DOMAIN_MODULES or (len(parts) > 1 and parts[1] in DOMAIN_PACKAGES)


def web_imports(module: str) -> list[str]:
    """What ``module`` imports that is web: FastAPI, Starlette, or a photosync module using them."""
    return sorted(
        name
        for name in imports_of(module)
        if _within(name, WEB) or (name in MODULES and name != module and imports_web(name))
    )


def test_every_module_is_read() -> None:
    assert {"photosync.cli", "photosync.directory.auth", "photosync.imaging.pipeline"} <= set(
        MODULES
    )
    assert all(path.is_file() for path in MODULES.values())


def test_the_reader_sees_every_kind_of_import() -> None:
    source = """
from __future__ import annotations
import fastapi.responses as r
from typing import TYPE_CHECKING
from . import store
from ..directory.access import Principal
if TYPE_CHECKING:
    from photosync.services import Services
def late():
    import starlette
"""
    assert imports_in(source, "photosync.mailbox") == {
        "__future__",
        "__future__.annotations",
        "fastapi.responses",
        "typing",
        "typing.TYPE_CHECKING",
        "photosync.mailbox",
        "photosync.mailbox.store",
        "photosync.directory.access",
        "photosync.directory.access.Principal",
        "photosync.services",
        "photosync.services.Services",
        "starlette",
    }


ROLE_MODULES = sorted(m for m in MODULES if m.split(".")[1:2] and m.split(".")[1] in ROLES)


def chain_to(
    module: str, targets: tuple[str, ...], graph: Mapping[str, frozenset[str]]
) -> list[str] | None:
    """The first path of photosync imports from ``module`` to one of ``targets``, if any."""
    paths = {module: [module]}
    queue = [module]
    while queue:
        current = queue.pop(0)
        for name in sorted(graph[current]):
            if _within(name, targets):
                return [*paths[current], name]
            if name in graph and name not in paths:
                paths[name] = [*paths[current], name]
                queue.append(name)
    return None


GRAPH = {module: imports_of(module) for module in MODULES}


@pytest.mark.parametrize("module", ROLE_MODULES)
def test_a_role_never_imports_the_composition_root(module: str) -> None:
    chain = chain_to(module, COMPOSITION_ROOT, GRAPH)
    assert chain is None, f"{' -> '.join(chain)}: take the services from the caller instead"


def test_the_old_cycle_is_what_it_finds() -> None:
    # Before issue 7 the role CLIs took a helper that built the services itself.
    old = {
        **GRAPH,
        "photosync.cli_support": frozenset({"click", "photosync.services"}),
        "photosync.mailbox.cli": frozenset({"photosync.cli_support"}),
    }
    assert chain_to("photosync.mailbox.cli", COMPOSITION_ROOT, old) == [
        "photosync.mailbox.cli",
        "photosync.cli_support",
        "photosync.services",
    ]


DOMAIN = sorted(m for m in MODULES if is_domain(m))


def test_the_domain_modules_are_found() -> None:
    for module in (
        "photosync.services",
        "photosync.models",
        "photosync.directory.services",
        "photosync.mailbox.store",
        "photosync.sync.engine",
        "photosync.sync.policy",
        "photosync.sync.records",
        "photosync.imaging.pipeline",
        "photosync.blobs.filesystem",
    ):
        assert module in DOMAIN, module


@pytest.mark.parametrize("module", DOMAIN)
def test_the_domain_imports_no_web(module: str) -> None:
    wrong = web_imports(module)
    if module in KNOWN_VIOLATIONS:
        assert wrong, f"{module} imports no web any more: remove it from KNOWN_VIOLATIONS"
        pytest.xfail(f"known, being removed in issue 7: {module} imports {wrong}")
    assert not wrong, f"{module} is domain code and imports web code: {wrong}"


def test_commands_other_than_serve_load_no_web_stack() -> None:
    # A bulk run, an import or gc pays its start-up once per command: FastAPI and Starlette
    # (about 0.4 s of imports) are for `serve` alone, which imports them when it runs.
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, photosync.cli; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'fastapi', 'starlette'}))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert loaded == "[]"
