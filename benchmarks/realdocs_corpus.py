"""A corpus of real manuals from Debian's documentation packages, for the real-documents benchmark.

Usage::

    python benchmarks/realdocs_corpus.py [--cache DIR]

``build()`` downloads the packages below with ``apt-get download`` (no install, no root
needed beyond what apt itself asks), unpacks each with ``dpkg-deb -x`` and copies a chosen
subset of their files into ``<cache>/realdocs/corpus/``:

- ``sphinx/``: the Sphinx 5.3 manual (HTML made by Sphinx: sidebars, navigation, footers),
  every page but the generated index, search and module-index pages and the highlighted
  source pages (``_modules/``);
- ``debian-reference/``: the Debian Reference (HTML made by DocBook XSL, one big page per chapter);
- ``git/``: a subset of Git's guides, command pages and how-tos (HTML made by AsciiDoc);
- ``pdf/``: seven PDF manuals of different makers (groff, pdfTeX, dvipdfmx, dblatex, texinfo,
  Sphinx's LaTeX, Acrobat Distiller), 451 pages in all.

Pages are copied as shipped: nothing is cleaned. Every package is in Debian main (free
licences). Python's and R's own documentation are deliberately absent: they are kept for an
independent check.

The build is idempotent: debs already downloaded, packages already unpacked and files already
copied are skipped; files in the corpus folder that are no longer chosen are removed.
The versions fetched are written to ``<cache>/realdocs/manifest.json``; a version other than
the one the questions were written against is reported (``realdocs_questions_check.py`` then
tells whether any gold phrase moved).
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

DEFAULT_CACHE = Path(__file__).resolve().parent / ".cache"

#: The versions (Debian 12 "bookworm") the questions were written against.
EXPECTED_VERSIONS = {
    "sphinx-doc": "5.3.0-4",
    "debian-reference-en": "2.100",
    "git-doc": "1:2.39.5-0+deb12u3",
    "bash-doc": "5.2.15-2",
    "glpk-doc": "5.0-1",
    "auto-multiple-choice-doc-pdf": "1.6.0-1",
    "octave-doc": "7.3.0-2",
    "ubuntu-packaging-guide-pdf": "1.0.4",
    "texlive-fonts-recommended-doc": "2022.20230122-3",
    "freefem-doc": "3.5.8-7",
}


@dataclass(frozen=True)
class Tree:
    """Copy the files under ``source`` (inside the unpacked package) matching ``include``
    and none of ``exclude`` (globs on the path relative to ``source``) to ``corpus/<dest>/``."""

    package: str
    source: str
    dest: str
    include: tuple[str, ...]
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class File:
    """Copy one file (gunzipped when its name ends in .gz) to ``corpus/<dest>``."""

    package: str
    source: str
    dest: str


GIT_PAGES = (
    # guides
    "user-manual", "gittutorial", "gittutorial-2", "giteveryday", "gitglossary", "gitworkflows",
    "gitfaq", "gitcore-tutorial", "githooks", "gitignore", "gitattributes", "gitcli",
    "gitcredentials", "gitrevisions", "gitsubmodules", "gitmodules", "gitmailmap",
    "gitrepository-layout", "gitnamespaces", "git", "scalar", "SubmittingPatches",
    "MyFirstContribution", "git-bisect-lk2009",
    # commands
    "git-add", "git-am", "git-archive", "git-bisect", "git-blame", "git-branch", "git-bundle",
    "git-checkout", "git-cherry-pick", "git-clean", "git-clone", "git-commit", "git-config",
    "git-credential-cache", "git-credential-store", "git-describe", "git-diff", "git-fetch",
    "git-filter-branch", "git-format-patch", "git-gc", "git-grep", "git-init", "git-log",
    "git-maintenance", "git-merge", "git-mv", "git-notes", "git-pull", "git-push", "git-range-diff",
    "git-rebase", "git-reflog", "git-remote", "git-rerere", "git-reset", "git-restore", "git-revert",
    "git-rm", "git-send-email", "git-shortlog", "git-show", "git-sparse-checkout", "git-stash",
    "git-status", "git-submodule", "git-switch", "git-tag", "git-worktree",
)  # fmt: skip

SELECTION: tuple[Tree | File, ...] = (
    Tree(
        "sphinx-doc",
        "usr/share/doc/sphinx-doc/html",
        "sphinx",
        include=("*.html",),
        exclude=("_modules/*", "_sources/*", "_static/*", "genindex.html", "search.html", "py-modindex.html"),
    ),
    Tree(
        "debian-reference-en",
        "usr/share/debian-reference",
        "debian-reference",
        include=("*.en.html",),
    ),
    Tree(
        "git-doc",
        "usr/share/doc/git-doc",
        "git",
        include=(*(f"{name}.html" for name in GIT_PAGES), "howto/*.html"),
    ),
    File("bash-doc", "usr/share/doc/bash/bash.pdf", "pdf/bash.pdf"),
    File("glpk-doc", "usr/share/doc/glpk-doc/gmpl.pdf", "pdf/gmpl.pdf"),
    File(
        "auto-multiple-choice-doc-pdf",
        "usr/share/doc/auto-multiple-choice/auto-multiple-choice.en.pdf",
        "pdf/auto-multiple-choice.pdf",
    ),
    File("octave-doc", "usr/share/doc/octave/liboctave.pdf", "pdf/liboctave.pdf"),
    File(
        "ubuntu-packaging-guide-pdf",
        "usr/share/doc/ubuntu-packaging-guide-pdf/ubuntu-packaging-guide.pdf.gz",
        "pdf/ubuntu-packaging-guide.pdf",
    ),
    File(
        "texlive-fonts-recommended-doc",
        "usr/share/doc/texlive-doc/fonts/txfonts/txfontsdocA4.pdf",
        "pdf/txfonts.pdf",
    ),
    File("freefem-doc", "usr/share/doc/freefem-doc/freefem.pdf", "pdf/freefem.pdf"),
)

PACKAGES = tuple(dict.fromkeys(item.package for item in SELECTION))


def corpus_folder(cache: Path = DEFAULT_CACHE) -> Path:
    return cache / "realdocs" / "corpus"


def _run(cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)


def _deb_for(debs: Path, package: str) -> Path | None:
    found = sorted(debs.glob(f"{package}_*.deb"))
    return found[-1] if found else None


def download(debs: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    """``apt-get download`` the packages not already in ``debs``; return each one's .deb."""
    debs.mkdir(parents=True, exist_ok=True)
    missing = [p for p in packages if _deb_for(debs, p) is None]
    if missing:
        if shutil.which("apt-get") is None:
            raise RuntimeError(f"apt-get is needed to download {', '.join(missing)}")
        # Downloading as root into a folder the _apt user cannot write only warns: say so once.
        cmd = ["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", *missing]
        done = _run(cmd, cwd=debs)
        if done.returncode != 0:
            print("apt-get download failed; running apt-get update -qq first", file=sys.stderr)
            update = _run(["apt-get", "update", "-qq"])
            if update.returncode != 0:
                raise RuntimeError(f"apt-get update failed:\n{update.stderr}")
            done = _run(cmd, cwd=debs)
            if done.returncode != 0:
                raise RuntimeError(f"apt-get download {' '.join(missing)} failed:\n{done.stderr}")
    found = {p: _deb_for(debs, p) for p in packages}
    absent = [p for p, deb in found.items() if deb is None]
    if absent:
        raise RuntimeError(f"no .deb for {', '.join(absent)} after apt-get download")
    return found  # type: ignore[return-value]


def _version(deb: Path) -> str:
    done = _run(["dpkg-deb", "--field", str(deb), "Version"])
    if done.returncode != 0:
        raise RuntimeError(f"dpkg-deb cannot read {deb}: {done.stderr}")
    return done.stdout.strip()


def unpack(deb: Path, target: Path) -> Path:
    """``dpkg-deb -x`` into ``target`` unless a finished unpack is already there."""
    stamp = target / ".unpacked"
    if stamp.exists() and stamp.read_text() == deb.name:
        return target
    if target.exists():
        shutil.rmtree(target)
    partial = target.with_name(target.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    done = _run(["dpkg-deb", "-x", str(deb), str(partial)])
    if done.returncode != 0:
        raise RuntimeError(f"dpkg-deb -x {deb} failed: {done.stderr}")
    (partial / ".unpacked").write_text(deb.name)
    partial.rename(target)
    return target


def _selected(tree: Tree, root: Path) -> list[tuple[Path, str]]:
    base = root / tree.source
    if not base.is_dir():
        raise RuntimeError(f"{tree.package} has no folder {tree.source}")
    chosen = []
    for path in sorted(base.rglob("*")):
        if path.is_symlink() or not path.is_file():  # e.g. git's index.html -> git.html
            continue
        rel = path.relative_to(base).as_posix()
        if any(fnmatch(rel, pat) for pat in tree.include) and not any(fnmatch(rel, pat) for pat in tree.exclude):
            chosen.append((path, f"{tree.dest}/{rel}"))
    return chosen


def _copy(source: Path, dest: Path) -> None:
    """Copy (gunzipping a .gz) unless ``dest`` already holds it; atomic."""
    data = gzip.decompress(source.read_bytes()) if source.suffix == ".gz" else source.read_bytes()
    if dest.exists() and dest.stat().st_size == len(data) and dest.read_bytes() == data:
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(dest)


def build(cache: Path = DEFAULT_CACHE) -> Path:
    """Download, unpack and copy; return the corpus folder (``<cache>/realdocs/corpus``)."""
    cache = Path(cache)
    debs = download(cache / "debs")
    versions = {p: _version(deb) for p, deb in debs.items()}
    for package, version in versions.items():
        expected = EXPECTED_VERSIONS.get(package)
        if expected and version != expected:
            print(f"note: {package} is {version}, the questions were written on {expected}", file=sys.stderr)
    roots = {p: unpack(deb, cache / "unpacked" / p) for p, deb in debs.items()}

    corpus = corpus_folder(cache)
    wanted: dict[str, Path] = {}
    for item in SELECTION:
        root = roots[item.package]
        if isinstance(item, Tree):
            for source, rel in _selected(item, root):
                wanted[rel] = source
        else:
            source = root / item.source
            if not source.is_file():
                raise RuntimeError(f"{item.package} has no file {item.source}")
            wanted[item.dest] = source
    for rel, source in wanted.items():
        _copy(source, corpus / rel)
    # Drop what is no longer chosen, so the corpus is exactly the selection.
    for path in sorted(corpus.rglob("*"), reverse=True):
        rel = path.relative_to(corpus).as_posix()
        if path.is_file() and rel not in wanted:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    manifest = {
        "packages": versions,
        "files": {rel: str(src.relative_to(cache / "unpacked")) for rel, src in sorted(wanted.items())},
    }
    (cache / "realdocs" / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return corpus


def counts(corpus: Path) -> Counter[str]:
    """Files per kind: the top folder and the suffix, e.g. ``sphinx .html``."""
    tally: Counter[str] = Counter()
    for path in corpus.rglob("*"):
        if path.is_file():
            tally[f"{path.relative_to(corpus).parts[0]} {path.suffix}"] += 1
    return tally


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args(argv)
    corpus = build(args.cache)
    print(corpus)
    tally = counts(corpus)
    for kind, n in sorted(tally.items()):
        print(f"  {kind:28} {n:4}")
    size = sum(p.stat().st_size for p in corpus.rglob("*") if p.is_file())
    print(f"  {'total':28} {sum(tally.values()):4} files, {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
