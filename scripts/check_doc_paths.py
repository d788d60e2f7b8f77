#!/usr/bin/env python3
"""Every repository path a doc names must exist.

Reads docs/*.md and every README.md of the repository, takes each
`backquoted` word and markdown link target that looks like a path into the
repository (it starts with one of the top-level folders, or names a file
with an extension in a folder), and fails listing the ones that do not
exist. Globs (*), placeholders (<...>), URLs and paths under build/ are
skipped. Usage: check_doc_paths.py [REPO_ROOT]
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
TOP = {p.name for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith(".")}
TOP.discard("build")

CODE = re.compile(r"`([^`\s]+)`")
LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)]*)?\)")


def candidates(text):
    for m in CODE.finditer(text):
        yield m.group(1)
    for m in LINK.finditer(text):
        yield m.group(1)


def is_repo_path(word):
    if "://" in word or any(c in word for c in "*<>{}$=,;|") or word.startswith("-"):
        return False
    word = word.rstrip(".:")
    first = word.split("/", 1)[0]
    return "/" in word and first in TOP


def resolve(doc, word):
    word = word.rstrip(".:").split(":", 1)[0]
    for base in (ROOT, doc.parent):
        if (base / word).exists():
            return True
    return False


def main():
    docs = sorted(ROOT.glob("docs/*.md"))
    docs += sorted(p for p in ROOT.rglob("README.md")
                   if "build" not in p.relative_to(ROOT).parts[:1]
                   and not any(part.startswith(".") for part in p.relative_to(ROOT).parts))
    missing = []
    for doc in docs:
        text = doc.read_text(encoding="utf-8")
        for word in candidates(text):
            if is_repo_path(word) and not resolve(doc, word):
                missing.append(f"{doc.relative_to(ROOT)}: {word}")
    for line in missing:
        print("missing:", line)
    print(f"{len(docs)} docs checked, {len(missing)} missing paths")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
