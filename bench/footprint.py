"""Runtime footprint of each function's image: site-packages as the Dockerfile installs it.

The container image cannot be built here (no Docker engine), so this measures the part of it
we control: a fresh virtual env with `pip install .[<the function's extras>]` (the Dockerfile's
`EXTRAS` build argument; the distribution holds no `mastery.local` or `mastery.learning`),
pruned as the Dockerfile prunes it (pip, setuptools, third-party test suites, .pyi stubs),
with and without its bytecode (the image compiles it: a read-only root cannot cache it). Exits
1 when a function's figure with bytecode exceeds the budget. MB = 1,000,000 bytes.

    .venv/bin/python bench/footprint.py                      # every function, 100 MB budget
    .venv/bin/python bench/footprint.py --function predict --top 20 --limit-mb 100
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
import tempfile
import venv
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MB = 1_000_000
# The extras each function's image installs (README, Dependencies): production verifies RS256
# tokens from a JWKS (jwks); recommend publishes struggle alerts and
# ingest dead letters (kafka, or dapr through the sidecar in the KEDA Deployment).
FUNCTION_EXTRAS: dict[str, tuple[str, ...]] = {
    "ingest": ("kafka", "dapr"),
    "query": ("jwks",),
    "predict": ("jwks",),
    "recommend": ("kafka", "jwks"),
    "gdpr": ("jwks",),
}
# What the Dockerfile removes after `pip install .`: not needed at run time.
BUILD_ONLY = ("pip", "setuptools")
PRUNED_DIRS = "tests"
PRUNED_SUFFIX = ".pyi"


@dataclass(frozen=True)
class Distribution:
    """One installed distribution and the bytes its files take in site-packages."""

    name: str
    size: int


def create_runtime_env(env_dir: Path, extras: tuple[str, ...]) -> Path:
    """Install the project with `extras` into a new venv at `env_dir`; return its site-packages."""
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    python = env_dir / "bin" / "python"
    pip = [str(python), "-m", "pip", "--disable-pip-version-check", "--quiet"]
    target = f"{ROOT}[{','.join(extras)}]" if extras else str(ROOT)
    subprocess.run([*pip, "install", target], check=True)  # noqa: S603
    found = sorted((env_dir / "lib").glob("python*/site-packages"))
    if len(found) != 1:
        raise RuntimeError(f"expected one site-packages under {env_dir}, found {found}")
    return found[0]


def prune_like_the_image(env_dir: Path, site_packages: Path) -> None:
    """Remove what the Dockerfile removes after the install."""
    python = env_dir / "bin" / "python"
    subprocess.run(  # noqa: S603
        [str(python), "-m", "pip", "--quiet", "uninstall", "--yes", *BUILD_ONLY], check=True
    )
    for tests in sorted(site_packages.rglob(PRUNED_DIRS), reverse=True):
        if tests.is_dir():
            shutil.rmtree(tests)
    for stub in site_packages.rglob(f"*{PRUNED_SUFFIX}"):
        stub.unlink()


def _record_files(dist_info: Path, site_packages: Path) -> set[Path]:
    record = dist_info / "RECORD"
    files = {dist_info / name.name for name in dist_info.iterdir()}
    if not record.is_file():
        return files
    with record.open(newline="", encoding="utf-8") as handle:
        for row in csv.reader(handle):
            if not row:
                continue
            path = (site_packages / row[0]).resolve()
            if path.is_relative_to(site_packages):
                files.add(path)
    return files


def bytecode_size(site_packages: Path) -> int:
    """Bytes of compiled bytecode (`*.pyc`) under `site_packages`."""
    return sum(p.stat().st_size for p in site_packages.rglob("*.pyc") if p.is_file())


def measure(site_packages: Path) -> tuple[int, list[Distribution]]:
    """Total bytes of `site_packages` and the bytes per distribution, largest first.

    Files are attributed through each distribution's RECORD; what no RECORD lists (bytecode
    compiled later, leftovers) is reported as "(unattributed)".
    """
    site_packages = site_packages.resolve()
    all_files = {p for p in site_packages.rglob("*") if p.is_file() and not p.is_symlink()}
    total = sum(p.stat().st_size for p in all_files)
    claimed: set[Path] = set()
    dists: list[Distribution] = []
    for dist_info in sorted(site_packages.glob("*.dist-info")):
        files = _record_files(dist_info, site_packages) & all_files
        files -= claimed
        claimed |= files
        name = dist_info.name.removesuffix(".dist-info").rsplit("-", 1)[0]
        dists.append(Distribution(name, sum(p.stat().st_size for p in files)))
    rest = sum(p.stat().st_size for p in all_files - claimed)
    if rest:
        dists.append(Distribution("(unattributed)", rest))
    dists.sort(key=lambda d: d.size, reverse=True)
    return total, dists


@dataclass(frozen=True)
class Footprint:
    """One function's image contents: total bytes, of which bytecode, and per distribution."""

    function: str
    extras: tuple[str, ...]
    total: int
    bytecode: int
    dists: list[Distribution]


def function_footprint(function: str) -> Footprint:
    """Install `function`'s dependency set in a fresh venv, prune it like the image, measure."""
    extras = FUNCTION_EXTRAS[function]
    with tempfile.TemporaryDirectory(prefix="footprint-") as tmp:
        env_dir = Path(tmp) / "venv"
        site_packages = create_runtime_env(env_dir, extras)
        prune_like_the_image(env_dir, site_packages)
        total, dists = measure(site_packages)
        return Footprint(function, extras, total, bytecode_size(site_packages), dists)


def report(footprint: Footprint, top: int, limit_mb: float) -> str:
    """The printed report of one function: totals, the budget verdict, the largest dists."""
    total = footprint.total
    verdict = "within" if total / MB <= limit_mb else "OVER"
    extras = ",".join(footprint.extras) or "none"
    lines = [
        f"{footprint.function} (extras: {extras}): {total / MB:.1f} MB with bytecode, "
        f"{(total - footprint.bytecode) / MB:.1f} MB without; {verdict} the {limit_mb:g} MB "
        f"budget; {len(footprint.dists)} distributions",
        f"  {'distribution':<30}{'MB':>8}{'share':>8}",
    ]
    for dist in footprint.dists[:top]:
        share = dist.size / total if total else 0.0
        lines.append(f"  {dist.name:<30}{dist.size / MB:>8.1f}{share:>8.0%}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--function", choices=sorted(FUNCTION_EXTRAS), action="append",
                        help="measure only this function (repeatable; default: all five)")  # fmt: skip
    parser.add_argument("--limit-mb", type=float, default=100.0, help="budget (default 100)")
    parser.add_argument("--top", type=int, default=8, help="distributions to list (default 8)")
    args = parser.parse_args(argv)
    over = False
    for function in args.function or FUNCTION_EXTRAS:
        footprint = function_footprint(function)
        over |= footprint.total / MB > args.limit_mb
        sys.stdout.write(report(footprint, args.top, args.limit_mb) + "\n")
        sys.stdout.flush()
    return 1 if over else 0


if __name__ == "__main__":
    raise SystemExit(main())
