"""Instructions from process start to the first real 200, ours vs the bare hello (callgrind).

    flock /work/heavy.lock .venv/bin/python -m bench.startup_instructions [target ...]

The wall and CPU times of `bench.startup` move with the machine's load and from one start to
the next; the instructions a start executes do not. Each target (default: the hello and every
HTTP function but agents) is started as `bench.startup` starts it — ours by `mastery.serve`, the
hello by functions-framework's CLI (a gunicorn master and one uvicorn worker) — under
`valgrind --tool=callgrind --trace-children=yes`, polled on its real route (`bench.startup`'s,
with a real JWT or event) until the first real answer, then sent SIGTERM, so both sides include
their shutdown. The instructions of every process of the tree are summed; the gunicorn master is
dumped before its fork (`--dump-before=_Fork`), so what it did before is not counted again in
the worker. Needs `valgrind`; ~15 s per target; the sources are compiled to bytecode first.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.engine import BASELINES, running_engine
from bench.startup import EXPECTED, compile_sources, real_request
from mastery.local.functions import ROOT, _command
from mastery.local.servers import free_port

TARGETS = ("hello", "ingest", "query", "predict", "recommend", "gdpr")


def instructions(outputs: list[Path]) -> int:
    """The instructions callgrind counted in these output files, together."""
    total = 0
    for output in outputs:
        for line in output.read_text().splitlines():
            if line.startswith(("totals:", "summary:")):
                total += int(line.split()[1])
                break
    return total


def measure(name: str, env: dict[str, str], secret: str, folder: Path) -> int:
    """Instructions of one start of `name` to its first real answer and shutdown."""
    port = free_port()
    hello = name == "hello"
    source = BASELINES / "hello" / "main.py" if hello else ROOT / "functions" / name / "main.py"
    process_env = {**os.environ, **env, "FUNCTION_TARGET": name, "FUNCTION_SOURCE": str(source),
                   "PORT": str(port), "HOST": "127.0.0.1"}  # fmt: skip
    command = ["valgrind", "--tool=callgrind", "--trace-children=yes", "--dump-before=_Fork",
               f"--callgrind-out-file={folder / name}.%p",
               *_command("functions-framework" if hello else "serve")]  # fmt: skip
    process = subprocess.Popen(  # noqa: S603 - our own command
        command, env=process_env, cwd=ROOT, stderr=subprocess.DEVNULL, start_new_session=True
    )
    request = real_request(name, secret, f"http://127.0.0.1:{port}")
    try:
        with httpx.Client(timeout=600) as client:
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {process.returncode}")
                try:
                    if client.send(request).status_code == EXPECTED.get(name, 200):
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
    finally:
        process.terminate()
        process.wait(600)
    return instructions(sorted(folder.glob(f"{name}.*")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("targets", nargs="*", help=f"of {', '.join(TARGETS)} (default: all)")
    args = parser.parse_args(argv)
    targets = args.targets or TARGETS
    if set(targets) - set(TARGETS):
        parser.error(f"unknown targets: {sorted(set(targets) - set(TARGETS))}")
    compile_sources()
    counts: dict[str, int] = {}
    with running_engine([]) as engine, tempfile.TemporaryDirectory() as scratch:
        for name in targets:
            counts[name] = measure(name, engine.env, engine.secret, Path(scratch))
            line = f"{name:10} {counts[name] / 1e6:9,.1f} M instructions"
            if "hello" in counts and name != "hello":
                line += f"  ({counts[name] / counts['hello']:.3f}x the hello)"
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
