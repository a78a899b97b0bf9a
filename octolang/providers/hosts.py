"""Where each model's requests go and which key goes with them: the user decides, not the file.

A `.octo` file may come from anyone; the environment and the command line are the user's.
A built-in provider's key goes only to that provider's host: its official address, or the
base URL the user set in the environment (`OPENAI_BASE_URL`, ...). Any other pairing of a
key variable and a host (an `openai_compatible` model's `base_url` with `api_key_env`, a
built-in model whose `api_key_env` names another variable) needs the user to allow the
variable (`--allow-key-env VAR`, `OCTO_ALLOW_KEY_ENV`) and the host (`--allow-host HOST`,
`OCTO_ALLOW_HOST`). A file's `base_url` without `api_key_env` is called without a key.

Only variable names are handled here, never their values.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from octolang import ir
from octolang.diagnostics import Diagnostic, error

BUILT_IN = ("openai", "anthropic", "gemini")
# The clients' own default addresses (tests/test_sandbox_keys.py holds them equal).
OFFICIAL_URLS: dict[str, str] = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com",
}
KEY_VARS: dict[str, tuple[str, ...]] = {
    "openai": ("OPENAI_API_KEY",),
    "anthropic": ("ANTHROPIC_API_KEY",),
    "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    "openai_compatible": (),  # local servers rarely want one; `api_key_env` names it when they do
}
# The official SDKs read these too; tests point them at the loopback emulators. Set by the
# user, so they count as the user's word: the provider's key goes to the address they name.
BASE_URL_VARS: dict[str, tuple[str, ...]] = {
    "openai": ("OPENAI_BASE_URL",),
    "anthropic": ("ANTHROPIC_BASE_URL",),
    "gemini": ("GEMINI_BASE_URL", "GOOGLE_GEMINI_BASE_URL"),
}
ALLOW_HOST_VAR = "OCTO_ALLOW_HOST"
ALLOW_KEY_ENV_VAR = "OCTO_ALLOW_KEY_ENV"


@dataclass(frozen=True)
class Origin:
    """Where a URL connects: scheme, host and port, as httpx (the client) reads the URL."""

    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = {"http": 80, "https": 443}.get(self.scheme)
        return host if self.port == default else f"{host}:{self.port}"


def origin(url: str) -> Origin | None:
    """The origin of an http(s) URL; None for anything else (no host, another scheme)."""
    import httpx

    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        return None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        return None
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return Origin(parsed.scheme, parsed.host.lower(), port)


@dataclass(frozen=True)
class HostRule:
    """One host the user allowed: `HOST` (any port), `HOST:PORT`, or a URL (its host and port)."""

    host: str
    port: int | None

    @classmethod
    def parse(cls, text: str) -> HostRule | None:
        if "://" in text:
            found = origin(text)
            return None if found is None else cls(found.host, found.port)
        import httpx

        try:
            parsed = httpx.URL("octo-host://" + text)  # a scheme without a default port
        except (httpx.InvalidURL, TypeError, ValueError):
            return None
        if not parsed.host or parsed.path not in ("", "/"):
            return None
        return cls(parsed.host.lower(), parsed.port)

    def admits(self, where: Origin) -> bool:
        return self.host == where.host and self.port in (None, where.port)


def words(value: str) -> list[str]:
    """The entries of a list variable (commas or spaces between)."""
    return [w for w in re.split(r"[\s,]+", value.strip()) if w]


@dataclass(frozen=True)
class Allowance:
    """What the user allowed: hosts, key variables, and the base URLs set in the environment."""

    hosts: tuple[HostRule, ...] = ()
    key_envs: frozenset[str] = frozenset()
    base_urls: Mapping[str, str] = field(default_factory=dict)  # provider -> the user's base URL

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Allowance:
        env = os.environ if environ is None else environ
        rules = (HostRule.parse(w) for w in words(env.get(ALLOW_HOST_VAR, "")))
        base_urls = {}
        for provider, names in BASE_URL_VARS.items():
            url = next((v for v in (env.get(n, "").strip() for n in names) if v), None)
            if url:
                base_urls[provider] = url
        return cls(
            hosts=tuple(r for r in rules if r is not None),
            key_envs=frozenset(words(env.get(ALLOW_KEY_ENV_VAR, ""))),
            base_urls=base_urls,
        )

    def host_allowed(self, where: Origin) -> bool:
        return any(rule.admits(where) for rule in self.hosts) or where in self.provider_origins().values()

    def provider_origins(self) -> dict[str, Origin]:
        """Each built-in provider's origin: the user's base URL, else the official one."""
        out = {}
        for provider in BUILT_IN:
            found = origin(self.provider_url(provider))
            if found is not None:
                out[provider] = found
        return out

    def provider_url(self, provider: str) -> str:
        return self.base_urls.get(provider) or OFFICIAL_URLS[provider]


def grant(hosts: Iterable[str] = (), key_envs: Iterable[str] = ()) -> None:
    """Add the command line's `--allow-host` and `--allow-key-env` to this process's allowance
    (the flags mean exactly what the environment variables mean)."""
    for var, extra in ((ALLOW_HOST_VAR, list(hosts)), (ALLOW_KEY_ENV_VAR, list(key_envs))):
        if extra:
            os.environ[var] = ",".join(words(os.environ.get(var, "")) + extra)


@dataclass(frozen=True)
class Refusal:
    """Why a model's key may not go where the file says, and what the user can do."""

    code: str
    setting: str  # the model setting the diagnostic points at
    message: str
    label: str
    help: str


@dataclass(frozen=True)
class Destination:
    model: str
    provider: str
    url: str | None  # None: nothing is called (mock)
    key_vars: tuple[str, ...]  # the variables the key is read from, first set wins; () for no key
    refusal: Refusal | None = None


def destination(model: ir.ModelDecl, allow: Allowance) -> Destination:
    """Where `model`'s requests go, which variable its key is read from, and whether the
    user allows that key to go there."""
    if model.provider == "mock":
        return Destination(model.name, model.provider, None, ())
    named = model.setting("api_key_env")
    if model.provider in BUILT_IN:
        url = allow.provider_url(model.provider)
        own = KEY_VARS[model.provider]
    else:
        url, own = str(model.setting("base_url") or ""), ()
    key_vars = (str(named),) if named else own
    # only a variable the file names needs a look at the address (which loads httpx's parser)
    refusal = None if not named else _refusal(str(named), url, allow)
    return Destination(model.name, model.provider, url, key_vars, refusal)


def _refusal(var: str, url: str, allow: Allowance) -> Refusal | None:
    """None when the key in `var` may be sent to `url`: it is a built-in provider's own
    variable going to that provider's host, or the user allowed both the variable and the host
    (a built-in provider's host, official or set in the environment, counts as allowed)."""
    where = origin(url)
    origins = allow.provider_origins()
    if where is not None and any(var in KEY_VARS[p] and origins.get(p) == where for p in BUILT_IN):
        return None
    if where is None:
        return Refusal(
            "E0811",
            "base_url",
            f"`base_url` is not an http(s) address with a host, so the key in `{var}` cannot be sent to it",
            "not an http:// or https:// URL",
            'write the server\'s address, e.g. `base_url = "http://127.0.0.1:8000/v1"`',
        )
    host_ok = allow.host_allowed(where)
    if var in allow.key_envs:
        if host_ok:
            return None
        return Refusal(
            "E0811",
            "base_url",
            f"the key in `{var}` would be sent to `{where}`, a host you have not allowed",
            "a file's address gets a key only when you allow its host",
            f"if you trust {where} with `{var}`, run with `--allow-host {where}` (or set {ALLOW_HOST_VAR}={where}); "
            "without `api_key_env` the server is called with no key",
        )
    flags = f"--allow-key-env {var}" + ("" if host_ok else f" --allow-host {where}")
    env = f"{ALLOW_KEY_ENV_VAR}={var}" + ("" if host_ok else f" {ALLOW_HOST_VAR}={where}")
    return Refusal(
        "E0810",
        "api_key_env",
        f"`api_key_env` names `{var}`, a variable you have not allowed a file to choose",
        f"its value would be sent to {where}",
        f"a key goes only to its own provider unless you say otherwise: if you trust {where} with `{var}`, "
        f"run with `{flags}` (or set {env})",
    )


def models_called(program: ir.Program) -> list[ir.ModelDecl]:
    """The models the llm steps call, sorted by name."""
    names = sorted({s.model for s in program.steps if s.kind == "llm" and s.model})
    return [m for m in (program.model(n) for n in names) if m is not None]


def key_diagnostics(program: ir.Program, allow: Allowance) -> list[Diagnostic]:
    """An error on the setting of each called model whose key the user has not allowed to go
    where the file says (what `octoc run` would refuse)."""
    out = []
    for model in models_called(program):
        refusal = destination(model, allow).refusal
        if refusal is None:
            continue
        setting = next((s for s in model.settings if s.name == refusal.setting), None)
        span = setting.value_span if setting is not None else model.name_span
        out.append(error(refusal.code, refusal.message, span, label=refusal.label, help=refusal.help))
    return out


def refusals(models: Iterable[ir.ModelDecl], allow: Allowance) -> list[str]:
    """The refusals of `models` as one line each, for `octoc run` (no span to point at)."""
    out = []
    for model in models:
        refusal = destination(model, allow).refusal
        if refusal is not None:
            out.append(f"model `{model.name}`: {refusal.message}; {refusal.help}")
    return out


@dataclass
class HostUse:
    """One host a run would talk to: the models sent there and the key variables (names)."""

    host: str
    scheme: str | None
    models: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    unset: list[str] = field(default_factory=list)  # of `keys`, those not set in the environment now

    def to_json(self) -> dict[str, object]:
        return {"host": self.host, "scheme": self.scheme, "models": self.models, "keys": self.keys, "unset": self.unset}


def hosts_summary(program: ir.Program, allow: Allowance, environ: Mapping[str, str] | None = None) -> list[HostUse]:
    """The hosts a run would talk to, in the order of the models' names."""
    env = os.environ if environ is None else environ
    hosts: dict[str, HostUse] = {}
    for model in models_called(program):
        dest = destination(model, allow)
        if dest.url is None:
            continue
        where = origin(dest.url)
        name = str(where) if where is not None else dest.url
        use = hosts.setdefault(name, HostUse(name, where.scheme if where else None))
        use.models.append(model.name)
        if dest.key_vars and dest.refusal is None:
            var = next((v for v in dest.key_vars if env.get(v, "").strip()), None)
            read = var or dest.key_vars[0]
            if read not in use.keys:
                use.keys.append(read)
                if var is None:
                    use.unset.append(read)
    return list(hosts.values())
