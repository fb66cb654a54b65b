"""Start a resolved container as the kubelet would, without a container runtime.

As root: a private mount namespace (`unshare --mount --propagation private`) in which every
writable mount of the host is remounted read-only when the container asks for a read-only root,
a tmpfs is mounted where it declares an emptyDir, then `setpriv` takes the declared user and
group, drops every capability (and sets no_new_privs for `allowPrivilegeEscalation: false`),
and `env -i` leaves exactly the declared environment. The host is untouched: the remounts live
and die with the namespace.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO

from tests.smoke.image import ROOT
from tests.smoke.pods import Container

_KERNEL_FILESYSTEMS = ("/proc", "/sys", "/dev")


def available() -> str | None:
    """Why the sandbox cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return "needs root (a private mount namespace, another user id)"
    missing = [tool for tool in ("unshare", "setpriv", "mount") if shutil.which(tool) is None]
    return f"missing {', '.join(missing)} (util-linux)" if missing else None


def _writable_mounts() -> list[str]:
    mounts = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _source, target, _fstype, options, *_ = line.split()
        target = target.replace("\\040", " ")
        kernel = any(target == k or target.startswith(k + "/") for k in _KERNEL_FILESYSTEMS)
        if "rw" in options.split(",") and not kernel:
            mounts.append(target)
    return mounts


def _tmpfs_size(size_limit: str) -> str:
    # Kubernetes quantities (64Mi) in the units tmpfs takes (64m).
    return size_limit.replace("Ki", "k").replace("Mi", "m").replace("Gi", "g")


def _interpreter_made_readable() -> list[str]:
    # This machine's Python may live under a folder other users cannot enter (/root is 0700);
    # the image's lives in /usr/local, readable by everyone. Show the container user the
    # interpreter's folder alone: a tmpfs over the closed folder, with the prefix bound back in.
    prefix = Path(sys.base_prefix).resolve()
    closed = next((p for p in reversed(prefix.parents) if not os.stat(p).st_mode & 0o001), None)
    if closed is None or closed == Path("/"):
        return []
    hold = "/mnt"  # an existing folder, hidden under a tmpfs in this namespace only
    inner = shlex.quote(str(prefix))
    return [
        f"mount -t tmpfs -o size=1m tmpfs {hold}",
        f"mkdir {hold}/prefix && mount --bind {inner} {hold}/prefix",
        f"mount -t tmpfs -o size=1m,mode=0755 tmpfs {shlex.quote(str(closed))}",
        f"mkdir -p {inner} && mount --move {hold}/prefix {inner}",
        f"umount {hold}",
        f"mount -o remount,ro {shlex.quote(str(closed))}",
    ]


def _tmpfs_keeping_the_image(path: str, options: str, read_only: bool) -> list[str]:
    # The image's files are this checkout. Where it lies under an emptyDir's path (a clone in
    # /tmp, say), the tmpfs would hide it; in the image they are apart (/app and /tmp), so the
    # checkout is bound back in over the tmpfs, read-only again when the root is.
    mount = [f"mount -t tmpfs -o {options} tmpfs {shlex.quote(path)}"]
    if not ROOT.is_relative_to(path):
        return mount
    hold, root = "/mnt", shlex.quote(str(ROOT))
    return [
        f"mount -t tmpfs -o size=1m tmpfs {hold}",
        f"mkdir {hold}/image && mount --bind {root} {hold}/image",
        *mount,
        f"mkdir -p {root} && mount --bind {hold}/image {root}",
        f"umount -l {hold}",
        *([f"mount -o remount,bind,ro {root}"] if read_only else []),
    ]


def script(container: Container) -> str:
    """The shell run inside the namespace, ending in the container's command."""
    lines = _interpreter_made_readable()
    if container.read_only_root:
        lines += [f"mount -o remount,bind,ro {shlex.quote(m)}" for m in _writable_mounts()]
    for path, size in container.tmpfs.items():
        options = f"size={_tmpfs_size(size)},mode=1777,nosuid,nodev"
        lines += _tmpfs_keeping_the_image(path, options, container.read_only_root)
    setpriv = ["setpriv", f"--reuid={container.uid}", f"--regid={container.gid}",
               "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"]  # fmt: skip
    if container.no_new_privileges:
        setpriv.append("--no-new-privs")
    environment = [f"{key}={value}" for key, value in sorted(container.env.items())]
    command = [*setpriv, "--", "env", "-i", *environment, *container.argv]
    lines += [f"cd {shlex.quote(container.workdir)}", "exec " + shlex.join(command)]
    return "\n".join(lines)


def start(container: Container, log: IO[bytes]) -> subprocess.Popen[bytes]:
    """The container's process, in its own process group, output to `log`."""
    return subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "--", "sh", "-ec", script(container)],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
    )


def stop(process: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM to the whole group, as the kubelet does, then SIGKILL after `grace` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(grace)
            break
        except subprocess.TimeoutExpired:
            continue
    process.wait()
