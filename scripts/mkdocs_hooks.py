"""mkdocs hooks for the documentation site (see mkdocs.yml).

Two things the pages need that plain mkdocs does not do:

* **README.md is the home page.**  It lives at the repository root (where GitHub shows
  it), outside ``docs/``; the hook adds it as ``index.md`` with its ``docs/...`` links made
  relative to ``docs/``, so the one file serves both places.
* **Every folder of docs/ has an index page.**  A folder such as ``docs/providers/`` or
  ``docs/services/`` gets a generated page listing its pages by title, unless it has its
  own ``index.md``; pages added by anyone later are listed without editing a nav.  A link
  to a folder (``providers/``, which GitHub shows as a listing) is pointed at that page.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any

from mkdocs.structure.files import File, Files

_H1 = re.compile(r"^#\s+(.+?)\s*$", re.M)
_DOCS_LINK = re.compile(r"\]\(docs/")
_FOLDER_LINK = re.compile(r"\]\(((?:\.\./)*[\w./-]*?/)\)")


def _readme_as_index(text: str) -> str:
    return _DOCS_LINK.sub("](", text)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """Point relative links to folders at the folders' index pages."""
    return _FOLDER_LINK.sub(lambda m: f"]({m.group(1)}index.md)", markdown)


def _title(path: Path) -> str:
    found = _H1.search(path.read_text(encoding="utf-8"))
    return found.group(1) if found else path.stem.replace("-", " ").replace("_", " ")


def on_files(files: Files, config: Any) -> Files:
    root = Path(config["config_file_path"]).parent
    docs = Path(config["docs_dir"])
    readme = (root / "README.md").read_text(encoding="utf-8")
    files.append(File.generated(config, "index.md", content=_readme_as_index(readme)))
    pages = sorted(PurePosixPath(f.src_uri) for f in files if f.src_uri.endswith(".md"))
    folders = sorted({p.parent for p in pages if p.parent != PurePosixPath(".")})
    for folder in folders:
        if folder / "index.md" in pages:
            continue
        listed = [p for p in pages if p.parent == folder]
        lines = [f"# {folder.name.replace('-', ' ').replace('_', ' ').capitalize()}", ""]
        lines += [f"- [{_title(docs / p)}]({p.name})" for p in listed]
        files.append(
            File.generated(config, str(folder / "index.md"), content="\n".join(lines) + "\n")
        )
    return files
