"""The machine's pip configuration for an image build's RUN steps: ``podman build -v`` lines.

    python .ci/pip_mounts.py STATE/pip.conf     (run by .ci/image)

Writes one pip.conf of everything pip reads here (its configuration files, then the PIP_*
variables, which win, as pip has it) and prints, one a line, the ``-v`` options that mount
it read-only as the build container's /etc/pip.conf and every local path it names (the CA
bundle, a constraints file, find-links folders, file:// indexes) read-only at the same
path. Mounted, not copied: nothing of it enters an image's layers.
"""

from __future__ import annotations

import configparser
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

from pip._internal.configuration import Configuration  # what `pip config list` reads


def effective_options() -> dict[str, dict[str, str]]:
    """{section: {option: value}}, later sources over earlier ones (pip's own order)."""
    configuration = Configuration(isolated=False)
    configuration.load()
    sections: dict[str, dict[str, str]] = {}
    for _variant, options in configuration.items():  # noqa: PERF102  (not a dict)
        for key, value in options.items():
            section, _, option = key.partition(".")
            section = "global" if section == ":env:" else section
            sections.setdefault(section, {})[option] = value
    return sections


def local_paths(value: str) -> list[Path]:
    """The local files and folders a value names: absolute paths and file:// URLs. An
    index's ``simple`` folder is mounted with its parent, whose files its pages link to
    (``../../files/…``)."""
    paths = []
    for token in value.split():
        if token.startswith("file://"):
            path = Path(unquote(urlparse(token).path))
            paths.append(path.parent if path.name == "simple" else path)
        elif token.startswith("/"):
            paths.append(Path(token))
    return [path for path in paths if path.exists()]


def main(target: str) -> None:
    sections = effective_options()
    parser = configparser.ConfigParser(interpolation=None)
    mounts: set[Path] = set()  # as pip names them: the paths inside the container
    for section, options in sections.items():
        parser[section] = options
        for value in options.values():
            mounts.update(local_paths(value))
    with open(target, "w", encoding="utf-8") as file:
        parser.write(file)
    print(f"--volume={Path(target).resolve()}:/etc/pip.conf:ro")
    # A path inside another mounted one comes with it.
    for path in sorted(mounts):
        if not any(parent in mounts for parent in path.parents):
            print(f"--volume={path.resolve()}:{path}:ro")


if __name__ == "__main__":
    main(sys.argv[1])
