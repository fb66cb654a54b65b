"""The container image as the Dockerfile declares it: command, environment, user, directory.

Only the final stage matters, and only the instructions that shape how its process starts
(ENTRYPOINT, CMD, ENV, WORKDIR, USER). The image is not built here (no Docker engine), so its
paths are mapped onto this checkout: the virtual environment the Dockerfile copies to
`/opt/venv` is the test run's own, and the working directory is the repository.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
# What the base image (python:3.11-slim) sets before our ENV lines add to it.
BASE_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
}
IMAGE_VENV = "/opt/venv"
_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


@dataclass
class Image:
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=lambda: dict(BASE_ENV))
    workdir: str = "/"
    user: str = "0"
    home: str = "/"

    @property
    def uid_gid(self) -> tuple[int, int]:
        uid, _, gid = self.user.partition(":")
        return int(uid), int(gid or uid)

    def host_path(self, text: str) -> str:
        """`text` with the image's paths replaced by where this checkout has them."""
        text = re.sub(rf"(?<![\w/]){re.escape(IMAGE_VENV)}(?=/|:|$)", sys.prefix, text)
        return re.sub(rf"(?<![\w/]){re.escape(self.workdir)}(?=/|:|$)", str(ROOT), text)


def _instructions(text: str) -> list[tuple[str, str]]:
    joined: list[str] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        joined.append(pending + stripped)
        pending = ""
    result = []
    for line in joined:
        keyword, _, rest = line.partition(" ")
        result.append((keyword.upper(), rest.strip()))
    return result


def _command(rest: str) -> list[str]:
    if rest.startswith("["):
        return [str(part) for part in json.loads(rest)]
    return ["/bin/sh", "-c", rest]


def _expand(value: str, env: dict[str, str]) -> str:
    return _VARIABLE.sub(lambda m: env.get(m.group(1) or m.group(2), ""), value)


def load(dockerfile: Path = DOCKERFILE) -> Image:
    """The final stage of `dockerfile`."""
    instructions = _instructions(dockerfile.read_text(encoding="utf-8"))
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    image = Image()
    venv_copied = False
    for keyword, rest in instructions[last_from + 1 :]:
        if keyword == "ENV":
            for pair in shlex.split(rest):
                name, _, value = pair.partition("=")
                image.env[name] = _expand(value, image.env)
        elif keyword == "WORKDIR":
            image.workdir = rest
        elif keyword == "USER":
            image.user = rest
        elif keyword == "ENTRYPOINT":
            image.entrypoint, image.cmd = _command(rest), []
        elif keyword == "CMD":
            image.cmd = _command(rest)
        elif keyword == "RUN" and (home := re.search(r"--home-dir\s+(\S+)", rest)):
            image.home = home.group(1)
        elif keyword == "COPY" and rest.startswith("--from=") and rest.endswith(f" {IMAGE_VENV}"):
            venv_copied = True
    if not venv_copied:
        raise AssertionError(
            f"the Dockerfile no longer copies a virtual environment to {IMAGE_VENV}"
        )
    return image
