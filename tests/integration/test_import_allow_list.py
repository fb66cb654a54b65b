"""Each function loads only what it uses: the modules of a fresh, started process, allow-listed.

Every function is started as the image starts it (`mastery.serve`: the entry point imported,
the function built and warmed up against the real Redis and broker) in a fresh interpreter,
which then lists `sys.modules`. Third-party packages must be on the function's allow-list, and
none of the tools the image does not ship (`mastery.local`, `mastery.learning`) may load.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from functools import cache
from importlib import metadata

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from mastery.local.functions import FUNCTIONS, LOCAL_AUTHORIZATION_SERVER, ROOT
from mastery.local.servers import KafkaBroker
from tests.integration.start_up import START_UP

pytestmark = pytest.mark.integration

# uvicorn and Starlette bring these to the bare hello too; `mastery.serve` does not import
# functions-framework (its package imports Flask, Werkzeug, Jinja2 and Click whatever the mode),
# whose namespace `.pth` file still makes `google` at interpreter start-up. Starlette's form parser
# imports python_multipart whenever it is installed (the test environment has it, through the
# agents extra's MCP SDK; the other functions' images do not).
FRAMEWORK = frozenset({
    "anyio", "click", "google", "python_multipart", "starlette", "typing_extensions", "uvicorn",
})  # fmt: skip
# What every function reads, validates, stores and reports with. `cryptography` is only the bare
# package, which redis-py imports to learn whether it is installed; its algorithms are
# `cryptography.hazmat`, checked apart; `hiredis` is redis-py's reply parser.
CORE = FRAMEWORK | {
    "mastery", "pydantic", "pydantic_core", "annotated_types", "typing_inspection", "redis",
    "cachetools", "cryptography", "hiredis",
}  # fmt: skip
ALLOWED = {
    # Its Kafka sinks connect on their first publish: aiokafka is not loaded at start-up either.
    "ingest": CORE,
    "query": CORE | {"jwt"},
    "predict": CORE | {"jwt"},
    "recommend": CORE | {"jwt"},
    "gdpr": CORE | {"jwt"},
}
NOT_SHIPPED = ("mastery.local", "mastery.learning")
# Imported only when something else installed them: httpx's brotli decoder, Starlette's form
# parser, and cffi and the OpenSSL bindings, which cryptography loads when present.
OPTIONAL = {"brotli", "_brotli", "python_multipart", "_cffi_backend", "_openssl"}

_LIST_MODULES = (
    START_UP
    + """
import json, sys
from mastery import serve

start_up(serve.app())
# A None entry marks a package as absent (bootstrap keeps OpenTelemetry out that way): not loaded.
print("modules:", json.dumps(sorted(n for n, m in sys.modules.items() if m is not None)))
"""
)


_LIST_LOADED = """
import json, sys
from mastery import serve

serve.app()
print("modules:", json.dumps(sorted(n for n, m in sys.modules.items() if m is not None)))
"""


def started_modules(function: str, env: dict[str, str], script: str = _LIST_MODULES) -> set[str]:
    """Every module a fresh `mastery.serve` process of `function` holds once started."""
    process_env = {"PATH": "/usr/bin:/bin", "FUNCTION_TARGET": function, "LOG_LEVEL": "ERROR",
                   **env}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", script], env=process_env, cwd=ROOT,
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    listed = [line for line in done.stdout.splitlines() if line.startswith("modules: ")]
    return set(json.loads(listed[-1].removeprefix("modules: ")))


def third_party(modules: set[str]) -> set[str]:
    tops = {name.partition(".")[0] for name in modules} - set(sys.stdlib_module_names)
    tops = {"_cython" if t.startswith("_cython_") else t for t in tops if not t.startswith("__")}
    return tops - {
        "main",  # the entry point, as functions-framework names the loaded source
        "_sysconfigdata__linux_x86_64-linux-gnu",  # the interpreter's own
        "_distutils_hack",  # setuptools' start-up hook in this venv; the image has no setuptools
    }


@pytest.fixture(scope="module")
def env(redis_url: str, kafka_broker: KafkaBroker) -> dict[str, str]:
    return {"REDIS_URL": redis_url, "KAFKA_BROKERS": kafka_broker.brokers,
            "JWT_SECRET": "allow-list-secret-of-at-least-32-bytes",
            "MCP_AUTHORIZATION_SERVER": LOCAL_AUTHORIZATION_SERVER}  # fmt: skip


@pytest.fixture(scope="module")
def started(env: dict[str, str]) -> Callable[[str], set[str]]:
    """`started_modules` of a function, each started once for the tests of this module."""
    return cache(lambda function: started_modules(function, env))


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_function_is_built_before_its_port_is_bound(
    function: str, started: Callable[[str], set[str]]
) -> None:
    """Its entry point names the function `function`, so `mastery.serve` prepares it on start-up
    (and closes it on shutdown); under another name it would be built by its first request."""
    assert f"mastery.entrypoints.http.{function}" in started(function)


# agents is not listed yet: the MCP SDK it serves with loads cryptography's algorithms
# (`mcp.server.request_state`) whatever the key, which the last assertion forbids.
@pytest.mark.parametrize("function", [f for f in FUNCTIONS if f != "agents"])
def test_a_started_function_loads_only_its_allow_list(
    function: str, started: Callable[[str], set[str]]
) -> None:
    modules = started(function)
    assert f"mastery.entrypoints.http.{function}" in modules  # the list is of a built function
    assert third_party(modules) <= ALLOWED[function], third_party(modules) - ALLOWED[function]
    assert not {m for m in modules if m.startswith(NOT_SHIPPED)}
    assert "cryptography.hazmat" not in modules  # an HMAC secret needs no asymmetric crypto


# Only ingest parses and applies events; the event models (and the modules that apply events,
# `mastery.domain.record_events` and the like, which all import them) stay out of the readers.
@pytest.mark.parametrize("function", [f for f in FUNCTIONS if f != "agents"])
def test_only_ingest_loads_the_event_models(
    function: str, started: Callable[[str], set[str]]
) -> None:
    modules = started(function)
    assert f"mastery.entrypoints.http.{function}" in modules  # the list is of a built function
    assert ("mastery.domain.events" in modules) == (function == "ingest")


def test_a_configured_jwks_loads_cryptography(env: dict[str, str]) -> None:
    jwks = {**env, "JWT_SECRET": "", "JWT_ALGORITHMS": "RS256",
            "JWT_JWKS_URL": "https://auth.example/.well-known/jwks.json"}  # fmt: skip
    assert "cryptography.hazmat" in started_modules("query", jwks)


def installed_by(distribution: str, extras: frozenset[str]) -> set[str]:
    """The distributions `pip install distribution[extras]` installs (canonical names)."""
    found: set[tuple[str, frozenset[str]]] = set()
    todo = [(distribution, extras)]
    while todo:
        name, wanted = todo.pop()
        if (canonicalize_name(name), wanted) in found:
            continue
        found.add((canonicalize_name(name), wanted))
        for line in metadata.requires(name) or []:
            requirement = Requirement(line)
            marker = requirement.marker
            if marker is None or any(marker.evaluate({"extra": e}) for e in wanted or {""}):
                todo.append((requirement.name, frozenset(requirement.extras)))
    return {name for name, _ in found}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_make_run_installs_every_package_a_function_loads(
    function: str, env: dict[str, str]
) -> None:
    """`make run` installs the runtime and the `local` extra only: each function it starts must
    load nothing else (a fresh clone's predict once crashed on numpy, agents on mcp)."""
    installed = installed_by("learnflow-mastery-engine", frozenset({"local"}))
    providers = metadata.packages_distributions()
    loaded = third_party(started_modules(function, env, _LIST_LOADED)) - {"mastery"} - OPTIONAL
    missing = {
        module for module in loaded
        if not {canonicalize_name(d) for d in providers.get(module, [])} & installed
    }  # fmt: skip
    assert not missing, f"{function} loads {sorted(missing)}, which `.[local]` does not install"
