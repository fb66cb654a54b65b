"""Runtime footprint: the size of the project's runtime-only install in a fresh virtual env.

The container image cannot be built here (no Docker engine), so this measures the part of it
we control: site-packages after `pip install .` without the dev/local extras (bytecode
included). It prints that figure, then the figure as the Dockerfile ships it (pip, setuptools,
third-party test suites and .pyi stubs removed), with the largest distributions. Exits 1 when
the shipped figure exceeds the budget. MB = 1,000,000 bytes.

    .venv/bin/python bench/footprint.py            # budget 150 MB, 12 largest distributions
    .venv/bin/python bench/footprint.py --top 20 --limit-mb 150
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
# What the Dockerfile removes after `pip install .`: not needed at run time.
BUILD_ONLY = ("pip", "setuptools")
PRUNED_DIRS = "tests"
PRUNED_SUFFIX = ".pyi"


@dataclass(frozen=True)
class Distribution:
    """One installed distribution and the bytes its files take in site-packages."""

    name: str
    size: int


def create_runtime_env(env_dir: Path) -> Path:
    """Install the project runtime-only into a new venv at `env_dir`; return its site-packages."""
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    python = env_dir / "bin" / "python"
    pip = [str(python), "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run([*pip, "install", str(ROOT)], check=True)  # noqa: S603
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


def report(fresh: int, total: int, dists: list[Distribution], top: int, limit_mb: float) -> str:
    """The printed report: both totals, the budget verdict, then the largest distributions."""
    verdict = "within" if total / MB <= limit_mb else "OVER"
    lines = [
        f"fresh runtime-only install: {fresh / MB:.1f} MB of site-packages (pip included)",
        f"as the image ships it: {total / MB:.1f} MB ({total / 2**20:.1f} MiB), "
        f"{verdict} the {limit_mb:g} MB budget, {len(dists)} distributions",
        f"{'distribution':<32}{'MB':>8}{'share':>8}",
    ]
    for dist in dists[:top]:
        share = dist.size / total if total else 0.0
        lines.append(f"{dist.name:<32}{dist.size / MB:>8.1f}{share:>8.0%}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--limit-mb", type=float, default=150.0, help="budget (default 150)")
    parser.add_argument("--top", type=int, default=12, help="distributions to list (default 12)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="footprint-") as tmp:
        env_dir = Path(tmp) / "venv"
        site_packages = create_runtime_env(env_dir)
        fresh, _ = measure(site_packages)
        prune_like_the_image(env_dir, site_packages)
        total, dists = measure(site_packages)
    sys.stdout.write(report(fresh, total, dists, args.top, args.limit_mb) + "\n")
    return 0 if total / MB <= args.limit_mb else 1


if __name__ == "__main__":
    raise SystemExit(main())
