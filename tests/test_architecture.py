"""The import contracts in .importlinter hold: which package may import which
(docs/architecture.md), kept true by `make test` rather than by reading.

lint-imports (requirements-dev.txt: import-linter) reads the source without importing it.
"""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.real_parts import ENGINE_AGNOSTIC, require_or_skip

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / ".importlinter"


def syntax_nodes(place: Path):
    """(module, node) for every node of the module ``place``, or of every module under the
    folder ``place`` in order: what each of the checks below walks."""
    import ast

    for path in [place] if place.is_file() else sorted(place.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            yield path, node


def lint_imports_binary() -> str | None:
    beside_python = Path(sys.executable).with_name("lint-imports")
    return str(beside_python) if beside_python.is_file() else shutil.which("lint-imports")


def active_contracts() -> list[str]:
    """The names of the contracts the file declares (commented-out ones are not read)."""
    parser = configparser.ConfigParser()
    parser.read(CONFIG, encoding="utf-8")
    return [parser[section]["name"] for section in parser.sections()
            if section.startswith("importlinter:contract:")]


def test_the_import_contracts_hold():
    binary = lint_imports_binary()
    if binary is None:
        require_or_skip("lint-imports is not installed (requirements-dev.txt: import-linter)")
    result = subprocess.run([binary, "--config", str(CONFIG), "--no-cache"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # Every declared contract was checked and kept: none was dropped by a typo in the file.
    contracts = active_contracts()
    assert len(contracts) >= 7
    summary = re.search(r"Contracts: (\d+) kept, (\d+) broken\.", output)
    assert summary is not None, output
    assert (int(summary[1]), int(summary[2])) == (len(contracts), 0), output


# Each resource package has its own, the microblog way; every other module's name says what
# it holds once in service/ and ml/.
SHARED_BASENAMES = {"__init__.py", "routes.py", "schemas.py"}


def shared_basenames(*roots: Path) -> dict[str, list[str]]:
    """The module names under ``roots`` that two modules or more share, outside
    SHARED_BASENAMES, with the paths (relative to the roots' parent) of each."""
    by_name: dict[str, list[str]] = {}
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            if path.name not in SHARED_BASENAMES:
                by_name.setdefault(path.name, []).append(
                    path.relative_to(root.parent).as_posix())
    return {name: paths for name, paths in by_name.items() if len(paths) > 1}


def test_no_two_modules_of_service_and_ml_share_a_name():
    """One name for each thing: outside the resource packages' routes.py and schemas.py, a
    module's basename names one module of service/ and ml/, so that a name in a traceback, a
    review or the docs points at one file."""
    assert shared_basenames(ROOT / "service", ROOT / "ml") == {}


def test_the_basename_check_finds_a_planted_duplicate(tmp_path):
    for module in ("a/x.py", "b/c/x.py", "a/routes.py", "b/routes.py", "a/schemas.py",
                   "b/schemas.py", "a/__init__.py", "b/__init__.py", "y.py"):
        (tmp_path / module).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / module).write_text("", encoding="utf-8")
    assert shared_basenames(tmp_path / "a", tmp_path / "b") == {"x.py": ["a/x.py", "b/c/x.py"]}


# The app's own endpoints, outside the resource packages (docs/architecture.md's rule).
TOP_LEVEL_ENDPOINTS = {"service/health.py", "service/metrics.py", "service/api_docs.py"}
VIEW = re.compile(r"^@\w+\.(route|get|post|put|patch|delete)\(", re.MULTILINE)


def misnamed_route_modules(root: Path) -> list[str]:
    """The modules under ``root`` that declare a view but break the naming rule: a
    package's ``routes.py`` or ``<thing>_routes.py``, the console's ``*_views.py``, or one
    of TOP_LEVEL_ENDPOINTS."""
    misnamed = []
    for path in sorted(root.rglob("*.py")):
        module = path.relative_to(root.parent).as_posix()
        if not VIEW.search(path.read_text(encoding="utf-8")) or module in TOP_LEVEL_ENDPOINTS:
            continue
        pattern = "*_views.py" if path.parent.name == "console" else "*_routes.py"
        if path.name != "routes.py" and not path.match(pattern):
            misnamed.append(module)
    return misnamed


def test_route_modules_are_named_one_way():
    """The module that answers a URL is found by its name (docs/architecture.md states the
    rule): a view declared in a module of another name is a rename to make."""
    assert misnamed_route_modules(ROOT / "service") == []


def test_the_route_naming_check_finds_a_misnamed_module(tmp_path):
    view = '@things.route("", methods=["GET"])\ndef all():\n    pass\n'
    for module in ("routes.py", "a/routes.py", "a/risk_routes.py", "a/risks.py",
                   "console/page_views.py", "console/page_routes.py", "a/helpers.py",
                   "health.py"):
        (tmp_path / "service" / module).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "service" / module).write_text(
            "" if module == "a/helpers.py" else view, encoding="utf-8")
    assert misnamed_route_modules(tmp_path / "service") == [
        "service/a/risks.py", "service/console/page_routes.py"]


TREE_INDENT = 23  # where the tree's descriptions start; deeper lines continue one
MAP = ROOT / "docs" / "architecture.md"


def tree_paths(markdown: str) -> list[str]:
    """The paths named in docs/architecture.md's tree: each entry's names (``a.py``,
    ``dir/``, ``a, b``) under the folders above it, by their indentation.

    The tree is the first code block after "## The tree". An entry starts at an even
    indentation below TREE_INDENT (two spaces a folder deep) with its names, then two spaces
    or more and why it exists; a line indented TREE_INDENT or more continues the entry above.
    An entry deeper than one folder below the last folder is a misindented line: a
    ValueError names it, rather than a path made up from it."""
    block = markdown.split("## The tree", 1)[1].split("```", 2)[1]
    folders: list[str] = []
    paths = []
    for line in block.splitlines()[1:]:
        indent = len(line) - len(line.lstrip())
        if not line.strip() or indent >= TREE_INDENT:
            continue
        depth = indent // 2
        if indent % 2 or depth > len(folders):
            raise ValueError(f"architecture.md's tree: a misindented line: {line.strip()!r}")
        del folders[depth:]
        names = re.split(r"\s{2,}", line.strip())[0].split(", ")
        paths += ["".join(folders) + name for name in names]
        if len(names) == 1 and names[0].endswith("/"):
            folders.append(names[0])
    return paths


def modules_of(*roots: Path) -> list[str]:
    """Every module under ``roots`` the map must give a line, relative to ROOT. A package's
    ``__init__.py`` is exempt: the package's own line (``serving/``) says what it holds."""
    return [path.relative_to(ROOT).as_posix() for root in roots
            for path in sorted(root.rglob("*.py")) if path.name != "__init__.py"]


def test_the_tree_parser_reads_folders_continuations_and_lists():
    tree = """## The tree

```
pkg/                   a package
  a.py                 why a
                       exists, continued
  sub/                 a folder
    b.py               why b
  long_name_module.py
                       why it exists, on the next line
  c.py, d.py           two together
top.py                 at the top
```
"""
    assert tree_paths(tree) == ["pkg/", "pkg/a.py", "pkg/sub/", "pkg/sub/b.py",
                                "pkg/long_name_module.py", "pkg/c.py", "pkg/d.py", "top.py"]
    with pytest.raises(ValueError, match="misindented line: 'b.py"):
        tree_paths(tree.replace("    b.py", "      b.py"))


def test_every_module_the_architecture_tree_names_exists():
    paths = tree_paths(MAP.read_text(encoding="utf-8"))
    assert "service/jobs/worker.py" in paths and "service/projects/bounded_map.py" in paths
    stale = [path for path in paths if not any(ROOT.glob(path.rstrip("/")))]
    assert stale == [], f"docs/architecture.md's tree names what does not exist: {stale}"


def test_every_module_of_service_and_ml_is_on_the_architecture_tree():
    """The map is the code's: a module added to service/ or ml/ gets its line (why it
    exists) in docs/architecture.md's tree, in the same change."""
    paths = set(tree_paths(MAP.read_text(encoding="utf-8")))
    modules = modules_of(ROOT / "service", ROOT / "ml")
    assert "service/serving/trainings.py" in modules
    unmapped = [module for module in modules if module not in paths]
    assert unmapped == [], (
        f"docs/architecture.md's tree leaves out {unmapped}: give each a line (why it exists)")


def test_the_architecture_page_lists_the_contracts_as_importlinter_declares_them():
    """docs/architecture.md's list of contracts is generated from .importlinter, not kept by
    hand beside it: a contract added, renamed or changed there must be written again
    (python -m tests.architecture_doc)."""
    from tests import architecture_doc

    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    generated = architecture_doc.render()
    assert architecture_doc.current_block(page) == generated, (
        "docs/architecture.md's contracts differ from .importlinter: "
        "run python -m tests.architecture_doc")
    assert generated.count("\n1. `layers`:") == 1 and "`serving`" in generated
    assert len(re.findall(r"^\d+\. `", generated, re.MULTILINE)) == len(active_contracts())


def test_ml_is_held_to_an_acyclic_contract():
    """ml/'s modules import each other one way only, type-only imports included: the model
    card reads a run's settings from ml.recipe, not from ml.train, which writes the card."""
    parser = configparser.ConfigParser()
    parser.read(CONFIG, encoding="utf-8")
    acyclic = [parser[section] for section in parser.sections()
               if parser[section].get("type") == "acyclic_siblings"]
    assert [section.name for section in acyclic
            if "ml" in section["ancestors"].split()] == ["importlinter:contract:ml-acyclic"]

# A module a reader takes in at one sitting; past it, a module holds more than one thing.
MAX_MODULE_LINES = 450


def long_modules(*roots: Path) -> dict[str, int]:
    """The modules under ``roots`` longer than MAX_MODULE_LINES, with their line counts."""
    lengths = {path.relative_to(ROOT).as_posix(): len(path.read_text(encoding="utf-8")
                                                     .splitlines())
               for root in roots for path in sorted(root.rglob("*.py"))}
    return {path: lines for path, lines in lengths.items() if lines > MAX_MODULE_LINES}


def test_no_module_of_service_or_ml_is_longer_than_a_sitting():
    assert long_modules(ROOT / "service", ROOT / "ml") == {}


def test_the_length_check_finds_a_planted_long_module(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "long.py").write_text("x = 1\n" * (MAX_MODULE_LINES + 1), encoding="utf-8")
    (tmp_path / "pkg" / "short.py").write_text("x = 1\n" * MAX_MODULE_LINES, encoding="utf-8")
    assert long_modules(tmp_path / "pkg") == {"pkg/long.py": MAX_MODULE_LINES + 1}


def test_every_engine_agnostic_module_exists():
    """A renamed module would silently get its MariaDB copies back (tests/conftest.py deselects them)."""
    assert sorted(ENGINE_AGNOSTIC - {p.name for p in (ROOT / "tests").glob("test_*.py")}) == []


def test_modules(root: Path) -> list[str]:
    """``module: imported test module`` for every import of a ``test_*`` module (at any
    depth, also inside a function) by a module under ``root``."""
    import ast

    found = []
    for path, node in syntax_nodes(root):
        names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                 else [alias.name for alias in node.names] if isinstance(node, ast.Import)
                 else [])
        found += [f"{path.relative_to(root).as_posix()}: {name}" for name in names
                  if name.rpartition(".")[2].startswith("test_")]
    return found


test_modules.__test__ = False  # a helper, despite its name


def test_tests_share_through_fixtures_and_kits_never_by_importing_a_test_module():
    """What several test modules need lives in a shared module (tests/console_browser.py,
    tests/jobs.py, tests/registry.py, …, testkit/) or a fixture of conftest's plugins: a
    test module imported by another runs its module-level code twice over and hides which
    tests a fixture belongs to (pytest's own advice)."""
    for folder in ("tests", "reliability", "bench", "testkit"):
        assert test_modules(ROOT / folder) == [], folder


def test_the_import_check_finds_a_planted_one(tmp_path):
    (tmp_path / "a.py").write_text("def f():\n    from tests.test_x import y\n")
    (tmp_path / "b.py").write_text("import tests.test_z\nfrom tests.kit import test_w\n")
    assert test_modules(tmp_path) == ["a.py: tests.test_x", "b.py: tests.test_z"]


def folder_file_names(*roots: Path) -> list[str]:
    """``module:line: name`` for every string in the modules under ``roots`` that is one of
    a model version folder's file names (service/analysis/model_folder.py) or a pointer
    joined to a path (``root / "current"``): only that module names them."""
    import ast

    from service.analysis import model_folder

    files = {value for name, value in vars(model_folder).items()
             if name.isupper() and isinstance(value, str) and "." in value}
    pointers = {model_folder.CURRENT, model_folder.READER}
    found = []
    for root in roots:
        for path, node in syntax_nodes(root):
            named = path.name != "model_folder.py" and (
                (isinstance(node, ast.Constant) and node.value in files) or (
                    isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div)
                    and isinstance(node.right, ast.Constant) and node.right.value in pointers))
            if named:
                value = node.value if isinstance(node, ast.Constant) else node.right.value
                found.append(f"{path.relative_to(root.parent).as_posix()}:{node.lineno}: "
                             f"{value}")
    return found


def test_only_the_model_folder_module_names_a_version_folders_files():
    """A file added to a model version is named in one module, which ml/ (that writes
    folders) and service/ (that reads them) both go through."""
    assert folder_file_names(ROOT / "service", ROOT / "ml", ROOT / "bench",
                             ROOT / "reliability") == []


def test_the_folder_file_check_finds_planted_names(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text('X = "metrics.json"\nY = "fine.json"\n')
    (tmp_path / "pkg" / "b.py").write_text('p = root / "current"\nq = {"current": 1}\n')
    assert folder_file_names(tmp_path / "pkg") == ["pkg/a.py:1: metrics.json",
                                                    "pkg/b.py:1: current"]


def test_the_settings_are_read_off_flasks_config_in_one_place():
    """service.config.current_settings is the one reader of the app's typed settings: no
    module reaches them by a string key (issue #78), nor a test (issue #88)."""
    key = 'config["' + 'SETTINGS"]'  # this file does not count itself
    readers = sorted(path.relative_to(ROOT).as_posix()
                     for folder in ("service", "tests", "testkit", "bench", "reliability")
                     for path in (ROOT / folder).rglob("*.py")
                     if key in path.read_text(encoding="utf-8"))
    assert readers == ["service/config.py"]


def role_compared_by_word(*roots: Path) -> list[str]:
    """Where a module compares something with a model role's word (``== "fast"``, ``in
    ("fast", "reader")``) or a template with one (``role == 'pair'``): a role is a
    model_folder.Role, compared as one."""
    import ast
    import re

    from service.analysis.model_folder import Role

    words = {role.value for role in Role}

    def worded(node) -> bool:
        if isinstance(node, ast.Constant):
            return node.value in words
        return isinstance(node, ast.Tuple | ast.List | ast.Set) and any(map(worded, node.elts))

    alternatives = "|".join(words)
    in_template = re.compile(rf"role\s*(?:==|!=|in)\s*[(\[]?\s*['\"]({alternatives})['\"]")
    found = []
    for root in roots:
        for path, node in syntax_nodes(root):
            if isinstance(node, ast.Compare) and any(map(worded, [node.left,
                                                                   *node.comparators])):
                found.append(f"{path.relative_to(root.parent).as_posix()}:{node.lineno}")
        for path in sorted(root.rglob("*.html")):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if in_template.search(line) and "project.role" not in line:
                    found.append(f"{path.relative_to(root.parent).as_posix()}:{number}")
    return found


def test_a_models_role_is_compared_as_a_role_never_by_its_word():
    assert role_compared_by_word(ROOT / "service") == []


def test_the_role_check_finds_planted_comparisons(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text(
        'if kind == "reader":\n    pass\nok = role is Role.FAST\nx = kind in ("fast", "x")\n'
        'd = {"fast": 1}\n')
    (tmp_path / "pkg" / "b.html").write_text(
        "{% if model.role == 'pair' %}{% endif %}\n{% if project.role == 'owner' %}\n")
    assert role_compared_by_word(tmp_path / "pkg") == ["pkg/a.py:1", "pkg/a.py:4",
                                                       "pkg/b.html:1"]


def service_imports(subject: Path) -> set[str]:
    """The modules of ``service`` that a package or module imports (at any depth, inside
    functions too), its own left out: ``from service.auth import oidc`` is service.auth.oidc."""
    import ast

    own = ".".join(subject.relative_to(ROOT).with_suffix("").parts)
    found = set()
    for _, node in syntax_nodes(subject):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("service"):
            for alias in node.names:
                module = f"{node.module}.{alias.name}"
                package = ROOT / Path(*module.split("."))
                found.add(module if package.with_suffix(".py").is_file() or package.is_dir()
                          else node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("service")}
    return {module for module in found if module != own and not module.startswith(own + ".")}


def claimed_imports(doc: str, subject: str) -> set[str]:
    """The modules docs/architecture.md says ``subject`` imports, from its sentence
    "`subject` … imports … only A, B and C" up to the sentence's end (outside parentheses)."""
    import re

    within = r"(?:[^.]|\.(?!\s))*?"  # no sentence's end between: a period then a space
    only = re.search(re.escape(f"`{subject}`") + within + "imports" + within + "only ", doc)
    depth, end = 0, only.end()
    while not (depth == 0 and doc[end] in ".:" and doc[end + 1].isspace()):
        depth += {"(": 1, ")": -1}.get(doc[end], 0)
        end += 1
    names = {name if name.startswith("service") else f"service.{name}"
             for name in re.findall(r"`([\w.]+)`", doc[only.end():end])}
    return {name for name in names if (ROOT / Path(*name.split("."))).with_suffix(".py").is_file()
            or (ROOT / Path(*name.split("."))).is_dir()}


#: The map's "imports only" sentences, and what each is about.
ONLY_IMPORTS = {"service/console/": "service/console", "service/outbox.py": "service/outbox.py",
                "idempotency.py": "service/idempotency.py", "service/llm/": "service/llm"}


@pytest.mark.parametrize("subject", ONLY_IMPORTS)
def test_the_map_names_every_module_a_package_imports_and_no_other(subject):
    """docs/architecture.md's "imports only" sentences are what the code imports (issue #88):
    a claimed package (``service.analysis``) covers its modules."""
    claimed = claimed_imports((ROOT / "docs/architecture.md").read_text(encoding="utf-8"),
                              subject)
    actual = service_imports(ROOT / ONLY_IMPORTS[subject])

    def covered(module: str, by: set[str]) -> bool:
        return any(module == name or module.startswith(name + ".") for name in by)

    assert sorted(m for m in actual if not covered(m, claimed)) == [], "imported, not named"
    assert sorted(c for c in claimed if not any(covered(m, {c}) for m in actual)) == [], \
        "named, not imported"


REGISTER = ROOT / "service" / "projects" / "register"


def register_writes_outside(root: Path, package: Path, fields: set[str]) -> list[str]:
    """Where a module under ``root`` outside the register ``package`` changes an entry
    itself (issue #88): reaches past the package's ``__all__`` (its lock, its causes, its
    parts: ``register.entries``, ``from …register.entry_events import caused_by``), assigns
    one of an entry's ``fields`` or makes an entry in a module that names RegisterEntry
    (``entry.status = …``, ``setattr(entry, …)``, ``RegisterEntry(…)``), or moves a
    project's ``register_version`` (the lock). Each as "path:line"."""
    import ast

    dotted = ".".join(package.relative_to(root.parent).parts)
    public = next(set(ast.literal_eval(node.value)) for _, node in syntax_nodes(
        package / "__init__.py") if isinstance(node, ast.Assign)
        and any(getattr(target, "id", None) == "__all__" for target in node.targets))
    parent, name = dotted.rsplit(".", 1)
    found = []
    for path in sorted(root.rglob("*.py")):
        if package in path.parents or path.parent.name == "db":
            continue
        source = path.read_text(encoding="utf-8")
        names_entries = "RegisterEntry" in source
        nodes = [node for _, node in syntax_nodes(path)]
        bound = {alias.asname or name for node in nodes  # the names the package goes by here
                 if isinstance(node, ast.ImportFrom) and node.module == parent
                 for alias in node.names if alias.name == name}
        for node in nodes:
            wrong = False
            if isinstance(node, ast.ImportFrom) and node.module:
                wrong = node.module.startswith(dotted + ".") or node.module == dotted and any(
                    alias.name not in public for alias in node.names)
            elif isinstance(node, ast.Import):
                wrong = any(alias.name.startswith(dotted + ".") for alias in node.names)
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                wrong = node.value.id in bound and node.attr not in public
            elif isinstance(node, ast.keyword):
                wrong = node.arg == "register_version"
            elif isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign) and names_entries:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                wrong = any(isinstance(target, ast.Attribute) and target.attr in fields
                            for target in targets)
            elif isinstance(node, ast.Call) and names_entries:
                called = getattr(node.func, "id", None)
                named = [getattr(arg, "id", getattr(arg, "value", None)) for arg in node.args]
                wrong = called == "RegisterEntry" or called == "setattr" and len(named) > 1 and (
                    named[1] in fields or "entry" in str(named[0]))
            if wrong:
                found.append((path.relative_to(root.parent).as_posix(), node.lineno))
    return [f"{path}:{line}" for path, line in sorted(found)]


def test_only_the_register_package_changes_an_entry():
    """Routes, scans, jobs and membership call the register's verbs and nothing else: no
    lock, cause or entry field of their own (issue #88; at run time, entry_events.Uncaused
    stops a change outside a cause)."""
    from sqlalchemy import inspect

    from service.db import RegisterEntry

    mapper = inspect(RegisterEntry)
    fields = set(mapper.columns.keys()) | set(mapper.relationships.keys())
    assert register_writes_outside(ROOT / "service", REGISTER, fields) == []


def test_the_register_check_finds_planted_writes(tmp_path):
    package = tmp_path / "service" / "projects" / "register"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('__all__ = ["hold"]\n')
    (package / "entries.py").write_text("def lock():\n    pass\n")
    (tmp_path / "service" / "routes.py").write_text(
        "from service.projects import register\n"
        "from service.projects.register import hold\n"
        "register.hold(1).edit()\n"                       # allowed: a verb
        "register.entries.lock(1)\n"                      # 4: past __all__
        "from service.projects.register.entries import lock\n"  # 5: a part
        "from service.projects.register import caused_by\n"     # 6: not public
        "q.values(register_version=2)\n")                 # 7: the lock by hand
    (tmp_path / "service" / "jobs.py").write_text(
        "from service.db import RegisterEntry\n"
        "entry.status = 'closed'\n"                       # 2: a field
        "entry.owner_id += 1\n"                           # 3
        "RegisterEntry(risk='x')\n"                       # 4: an entry made
        "setattr(entry, name, 1)\n"                       # 5: an entry's field
        "job.finished = True\n"                           # not a field
        "setattr(summary, name, 1)\n"                     # not an entry
        "setattr(job, 'status', 1)\n")                    # 8: a field's name
    assert register_writes_outside(tmp_path / "service", package, {"status", "owner_id"}) == [
        "service/jobs.py:2", "service/jobs.py:3", "service/jobs.py:4", "service/jobs.py:5",
        "service/jobs.py:8", "service/routes.py:4", "service/routes.py:5", "service/routes.py:6",
        "service/routes.py:7"]


def test_the_entry_field_table_is_what_the_schemas_and_the_table_say():
    """service/entry_fields.py is the one table of an entry's fields (issue #88): every one is
    a column of register_entries and a field of RiskSchema, and what a person may set is
    exactly what PATCH …/risks/{id} accepts."""
    from service.db import RegisterEntry
    from service.entry_fields import COLUMNS, EDITED
    from service.projects.schemas import RiskSchema, RiskUpdateSchema

    assert set(COLUMNS) <= set(RegisterEntry.__table__.columns.keys())
    assert set(COLUMNS) <= set(RiskSchema().fields)
    assert set(EDITED) == set(RiskUpdateSchema().fields)
