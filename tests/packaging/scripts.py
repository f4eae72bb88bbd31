"""Import the build scripts under packaging/ by path.

The folder cannot be a Python package: its name would shadow PyPI's `packaging`, which pip,
pytest and setuptools import.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def load_script(relative: str) -> ModuleType:
    """Load ``packaging/...py`` as a module (cached in sys.modules under a private name)."""
    name = "_yiqiao_" + relative.replace("/", "_").removesuffix(".py")
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / relative)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


build_script = load_script("packaging/build.py")
installer_script = load_script("packaging/windows/build_installer.py")
