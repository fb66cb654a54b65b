"""Tests may read only the repository: users clone it alone, with no sibling folders.

An audit hook sees every file the test process opens or lists. A path in the folder that holds
the repository but outside the repository itself (a sibling such as `../shared`) is recorded,
and the session fails listing them (tests/conftest.py). Temporary files, the interpreter and
installed packages live elsewhere and pass. Subprocesses are not seen: the one that reads files
we name, `kubectl kustomize`, renders folders of the repository only.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_EVENTS = frozenset({"open", "os.listdir", "os.scandir"})


class OutsideReads:
    """Records the paths outside the repository that this process touches."""

    def __init__(self, root: Path = ROOT) -> None:
        self._root = str(root) + os.sep
        self._parent = str(root.parent) + os.sep
        self._temp = os.path.realpath(tempfile.gettempdir()) + os.sep
        self.paths: list[str] = []

    def is_outside(self, path: str) -> bool:
        """True for a path beside the repository: under its parent folder, not in it or temp."""
        full = os.path.abspath(path) + os.sep
        if full.startswith(self._root) or not full.startswith(self._parent):
            return False
        # A clone inside the temp folder has the temp folder as its parent: test files pass.
        return not full.startswith(self._temp)

    def audit(self, event: str, args: tuple[object, ...]) -> None:
        if event not in _EVENTS or not args:
            return
        path = args[0]
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if isinstance(path, str) and self.is_outside(path):
            self.paths.append(path)

    def install(self) -> OutsideReads:
        sys.addaudithook(self.audit)
        return self
