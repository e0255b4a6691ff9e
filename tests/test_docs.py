"""The documentation is part of the repository: it points nowhere outside it, its links
resolve, and the map and the taxonomy agree with the code (docs/architecture.md)."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import unicodedata
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
# Spelled in pieces, so that this file does not name what it forbids.
OUTSIDE = ("../" + "shared", "shared/" + "design")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
SKIPPED_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", "instance",
                "models_cache", ".pytest_cache", ".ruff_cache"}


def tracked_files() -> list[Path]:
    """The repository's files: git's list, or the tree without what git ignores."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                             check=True).stdout
        files = [ROOT / name for name in out.decode().split("\0") if name]
        if files:
            return [path for path in files if path.is_file()]
    except (OSError, subprocess.CalledProcessError):
        pass
    found = []
    for folder, dirs, names in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS]
        found += [Path(folder) / name for name in names]
    return found


def text_of(path: Path) -> str | None:
    data = path.read_bytes()
    if b"\0" in data:  # binary
        return None
    return data.decode("utf-8", errors="replace")


def markdown_files() -> list[Path]:
    files = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
    files += [path for path in tracked_files()
              if path.suffix == ".md" and path not in files]
    return files


def relative_links(markdown: str) -> list[str]:
    text = FENCE.sub("", markdown)
    targets = LINK.findall(text) + REFERENCE.findall(text)
    return [target for target in targets
            if not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target)  # http:, mailto:
            and not target.startswith("#")]


def test_nothing_in_the_repository_points_outside_it():
    offenders = []
    for path in tracked_files():
        text = text_of(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if any(marker in line for marker in OUTSIDE):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


def test_the_readme_and_docs_are_there():
    names = {path.name for path in DOCS.glob("*.md")}
    assert {"architecture.md", "taxonomy.md"} <= names


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_markdown_link_resolves(path):
    broken = []
    for target in relative_links(path.read_text(encoding="utf-8")):
        file_part = target.split("#", 1)[0]
        if file_part and not (path.parent / file_part).exists():
            broken.append(target)
    assert broken == []


HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$", re.MULTILINE)
INLINE_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading (github-slugger): its text as rendered (a link's
    words, no markup), lowercased, punctuation and symbols dropped, each space a hyphen."""
    text = INLINE_LINK.sub(r"\1", heading)
    text = re.sub(r"<[^>]+>", "", text).lower()
    kept = (char for char in text if char in " -_"
            or unicodedata.category(char)[0] in "LNM")
    return "".join(kept).replace(" ", "-")


def anchors_of(markdown: str) -> set[str]:
    """The anchors of a page's headings; a repeated one gets -1, -2, … as on GitHub."""
    anchors, seen = set(), {}
    for heading in HEADING.findall(FENCE.sub("", markdown)):
        slug = github_slug(heading)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(f"{slug}-{count}" if count else slug)
    return anchors


def anchored_links(markdown: str) -> list[tuple[str, str]]:
    """(file, anchor) of each relative link with an anchor; file "" for the page itself."""
    text = FENCE.sub("", markdown)
    targets = LINK.findall(text) + REFERENCE.findall(text)
    return [(target.split("#", 1)[0], unquote(target.split("#", 1)[1])) for target in targets
            if "#" in target and not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target)]


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_anchor_a_markdown_link_names_exists(path):
    broken = []
    for file_part, anchor in anchored_links(path.read_text(encoding="utf-8")):
        target = (path.parent / file_part).resolve() if file_part else path
        if target.suffix != ".md" or not target.is_file():
            continue  # a file's existence is the test above; lines of code have no headings
        if anchor not in anchors_of(target.read_text(encoding="utf-8")):
            broken.append(f"{file_part}#{anchor}")
    assert broken == []


@pytest.mark.parametrize(("heading", "anchor"), [
    ("A tour of the API", "a-tour-of-the-api"),
    ("The LLM (`force_llm`)", "the-llm-force_llm"),
    ("Beyond one machine: scale-out", "beyond-one-machine-scale-out"),
    ("Keys, scopes & rotation", "keys-scopes--rotation"),
    ("[Webhooks](webhooks.md) — what is sent", "webhooks--what-is-sent"),
    ("Émigré data, 2.0", "émigré-data-20"),
])
def test_github_slugs(heading, anchor):
    assert github_slug(heading) == anchor


def test_a_repeated_heading_gets_a_numbered_anchor():
    assert anchors_of("# Setup\n## Setup\n```\n# not a heading\n```\n## Setup\n") == {
        "setup", "setup-1", "setup-2"}


def test_the_link_pattern_finds_links():
    found = relative_links('[a](docs/x.md) ![b](<y.png>) [c](https://e.org) [d](#top)\n'
                           '[e](z.md#part "title")\n[f]: ../w.md\n```\n[g](code.md)\n```\n')
    assert found == ["docs/x.md", "y.png", "z.md#part", "../w.md"]


def test_the_readme_links_into_docs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    linked = {target.split("#", 1)[0] for target in relative_links(readme)}
    for page in DOCS.glob("*.md"):
        assert f"docs/{page.name}" in linked, f"the README does not link docs/{page.name}"


def test_the_readme_is_a_door():
    """What it is, the two commands, a tour and links: the rest lives in docs/."""
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 200


def test_the_taxonomy_page_is_the_code_s_taxonomy():
    from service.analysis.labels import LABELS
    from service.llm.prompt import TAXONOMY

    rows = re.findall(r"^\| `([a-z]+)` \| ([^|]+) \|", (DOCS / "taxonomy.md").read_text(
        encoding="utf-8"), re.MULTILINE)
    assert tuple(label for label, _ in rows) == LABELS
    assert {label: meaning.strip() for label, meaning in rows} == TAXONOMY


def test_every_path_the_map_names_exists():
    text = (DOCS / "architecture.md").read_text(encoding="utf-8")
    named = set(re.findall(
        r"\b((?:service|ml|bench|reliability|tests|db|docker|docs|notebooks)/[\w./-]*\w)",
        text))
    missing = sorted(path for path in named if not (ROOT / path).exists())
    assert missing == []


# What the map names in code, `service.serving.versions`, `versions.load`, `scanned()` or
# `_read_document`, is looked up in the source (read, never imported: ml/ may need torch).
CODE = ("service", "ml")
FILE_SUFFIXES = {"py", "json", "jsonl", "md", "txt", "j2", "sh", "toml"}


def names_bound(path: Path) -> set[str]:
    """The names a module binds anywhere in it: functions, classes and their methods,
    assignments, imports."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
    return names


def module_at(folder: Path, name: str) -> Path | None:
    """``folder/name/__init__.py`` or ``folder/name.py``, whichever is there."""
    for path in (folder / name / "__init__.py", folder / f"{name}.py"):
        if path.is_file():
            return path
    return None


def unknown_code_names(markdown: str, root: Path = ROOT) -> list[str]:
    """The names in backticks that the code under ``root`` does not have:

    - ``a.b.c``, whose ``a`` is a package of CODE (``service``) or the basename of a module
      of theirs (``versions``, ``serving``): each next part a module inside the last, until
      one that the last module binds (what follows it, an attribute, is not looked up);
    - ``_private`` and ``name()``: bound by some module of CODE.
    Other names (fields, settings, tables, labels) are not code's and are left alone."""
    files = sorted(path for folder in CODE for path in (root / folder).rglob("*.py"))
    by_basename: dict[str, list[Path]] = {}
    for path in files:
        stem = path.parent.name if path.name == "__init__.py" else path.stem
        by_basename.setdefault(stem, []).append(path)
    for folder in CODE:
        by_basename[folder] = [root / folder / "__init__.py"]
    bound = {path: names_bound(path) for path in files}
    everywhere = set().union(*bound.values())

    def resolves(module: Path, parts: list[str]) -> bool:
        for part in parts:
            inner = module_at(module.parent, part) if module.name == "__init__.py" else None
            if inner is None:
                return part in bound[module]
            module = inner
        return True

    unknown = []
    for name in sorted(set(re.findall(r"`([^`\s]+)`", markdown))):
        dotted = re.fullmatch(r"[A-Za-z_]\w*(?:\.\w+)+", name)
        if dotted and name.split(".")[0] in by_basename and name.rsplit(".", 1)[1] not in FILE_SUFFIXES:
            first, *rest = name.split(".")
            if not any(resolves(module, rest) for module in by_basename[first]):
                unknown.append(name)
        elif re.fullmatch(r"_\w+|\w+\(\)", name) and name.removesuffix("()") not in everywhere:
            unknown.append(name)
    return unknown


def test_every_code_name_the_map_gives_exists():
    """A function renamed or a module moved leaves the map pointing at nothing: each name of
    the code the map gives in backticks is looked up in service/ and ml/."""
    unknown = unknown_code_names((DOCS / "architecture.md").read_text(encoding="utf-8"))
    assert unknown == [], f"docs/architecture.md names what the code does not have: {unknown}"


def test_the_name_check_finds_planted_names(tmp_path):
    (tmp_path / "service" / "serving").mkdir(parents=True)
    (tmp_path / "ml").mkdir()
    (tmp_path / "service" / "__init__.py").write_text("def create_app(): ...\n", encoding="utf-8")
    (tmp_path / "service" / "serving" / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / "service" / "serving" / "versions.py").write_text(
        "from x import load\ndef _hidden(): ...\n", encoding="utf-8")
    (tmp_path / "ml" / "__init__.py").write_text("", encoding="utf-8")
    page = ("`service.serving.versions.load`, `versions._hidden`, `serving.versions`, "
            "`create_app()`, `_hidden`, `versions.py`, `risk.created`, `MAX_UPLOAD_MB`, "
            "`service.analyzers`, `versions.gone`, `serving.holder.x`, `ml.train`, "
            "`_form_min_score`, `gone()`")
    assert unknown_code_names(page, tmp_path) == [
        "_form_min_score", "gone()", "ml.train", "service.analyzers", "serving.holder.x",
        "versions.gone"]


def test_the_map_names_every_top_level_folder():
    text = (DOCS / "architecture.md").read_text(encoding="utf-8")
    folders = {path.relative_to(ROOT).parts[0] for path in tracked_files()
               if len(path.relative_to(ROOT).parts) > 1}
    unnamed = sorted(folder for folder in folders if f"{folder}/" not in text)
    assert unnamed == []


def test_the_model_card_is_read_in_five_minutes():
    """docs/model.md is the card a newcomer reads: the experiments behind it live in
    docs/experiments/, so that it does not grow back into a diary."""
    assert len((DOCS / "model.md").read_text(encoding="utf-8").splitlines()) < 250


def test_the_experiments_index_links_every_experiment():
    """An experiment the index does not list is one nobody finds; a row whose file is gone
    points nowhere."""
    folder = DOCS / "experiments"
    linked = {target.split("#", 1)[0]
              for target in relative_links((folder / "README.md").read_text(encoding="utf-8"))}
    experiments = {path.name for path in folder.glob("*.md") if path.name != "README.md"}
    assert experiments, "docs/experiments/ holds no experiment"
    assert experiments - linked == set()
    assert sorted(target for target in linked if target and not (folder / target).exists()) == []
