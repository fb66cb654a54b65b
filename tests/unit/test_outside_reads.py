"""The check that no test reads beside the repository catches such a read, and only that."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from tests.outside_reads import ROOT, OutsideReads


def test_a_sibling_folder_of_the_repository_is_outside() -> None:
    reads = OutsideReads(Path("/src/engine"))
    assert reads.is_outside("/src/shared/schemas/x.yaml")
    assert reads.is_outside("/src/engine-old/x")
    assert reads.is_outside("/src/engine/../shared/x")


def test_the_repository_packages_and_temp_files_are_inside() -> None:
    reads = OutsideReads(Path("/src/engine"))
    assert not reads.is_outside("/src/engine/tests/contract/upstream/x.yaml")
    assert not reads.is_outside("/usr/lib/python3.11/os.py")
    assert not reads.is_outside(str(Path(tempfile.gettempdir()) / "pytest-1" / "x"))


def test_the_installed_hook_records_an_open_beside_the_repository() -> None:
    # A made-up location, so the session's own hook (tests/conftest.py) does not see a sibling.
    root = Path("/no-such-folder-of-tests") / "engine"
    reads = OutsideReads(root).install()
    sibling = str(root.parent / "shared" / "schemas" / "x.yaml")
    # The audit event alone, as `open()` raises it: no file is touched.
    sys.audit("open", sibling, "r", 0)
    sys.audit("open", str(root / "README.md"), "r", 0)
    sys.audit("open", str(ROOT / "README.md"), "r", 0)
    assert reads.paths == [sibling]
