"""Importing optical.evaluate is cheap: no torch, nltk, scipy or numpy at import time."""

from __future__ import annotations

import subprocess
import sys


def test_import_is_cheap():
    code = (
        "import sys, optical.evaluate, optical.runs\n"
        "heavy = [m for m in ('torch', 'nltk', 'scipy', 'numpy', 'pandas') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_public_api():
    import optical.evaluate as ev

    for name in ev.__all__:
        assert hasattr(ev, name), name
