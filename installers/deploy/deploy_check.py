#!/usr/bin/env python3
"""Checks installers/deploy/ without a container engine or a cluster (run by check.sh, which
installs the pinned tools this imports):

- Containerfile.*: their shape (FROM, a non-root USER, HEALTHCHECK and ENTRYPOINT in exec form
  through the binary's `healthcheck` subcommand, the right binary copied, ports, STOPSIGNAL).
- compose.yaml: interpolated as Compose would (placeholders for the required variables),
  then parsed and validated by compose-spec (the Rust compose_spec crate), then what that does
  not check: references between services, volumes, secrets and files, the relays' TOML against
  the ports published, and Prometheus' targets. `promtool check config` too when installed.
- k8s/*.yaml: every object against the Kubernetes JSON schemas of kubernetes-validate in strict
  mode (unknown fields fail; so does an unknown kind), for each version asked; then references
  (selectors, ports, volumes, ConfigMaps, Secrets documented in the README), the pods'
  security settings and resources, and the TOML in the ConfigMaps.
- Every TOML config (relay.toml, cloud.toml) against the keys the binaries accept, read from
  their sources (relay/src/config.rs, cloud/src/config*.rs): both refuse unknown keys at start.

Prints one line per check and `deploy-check: N passed, M failed`; exits 1 when any failed.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any, Callable

import yaml

# The ports each image must EXPOSE, by binary.
EXPECTED_EXPOSE = {
    "fdt-relay": {"8080/tcp", "8443/tcp", "7443/udp", "9100/tcp"},
    "fdt-cloud": {"8780/tcp"},
}
RELAY_CONFIG_TARGET = "/etc/fdt-relay/relay.toml"
CLOUD_CONFIG_TARGET = "/etc/fdt-cloud/cloud.toml"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


# ---------------------------------------------------------------------------------------------
# Reporting


class Report:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def check(self, name: str, fn: Callable[[], list[str]]) -> None:
        """Runs fn, which returns problems (empty: passed); an exception is a problem too."""
        try:
            problems = fn()
        except Exception as e:  # noqa: BLE001 - any crash of a check is its failure
            problems = [f"{type(e).__name__}: {e}"]
        if problems:
            self.failed += 1
            print(f"FAIL {name}")
            for p in problems:
                for i, line in enumerate(str(p).splitlines()):
                    print(f"     {'- ' if i == 0 else '  '}{line}")
        else:
            self.passed += 1
            print(f"ok   {name}")

    def skip(self, name: str, why: str) -> None:
        print(f"skip {name}: {why}")


# ---------------------------------------------------------------------------------------------
# YAML with duplicate keys refused (PyYAML keeps the last one silently; Compose and kubectl
# refuse or misread them).


class StrictLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: StrictLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(path: Path) -> Any:
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=StrictLoader)  # noqa: S506 - a SafeLoader subclass


def load_yaml_all(path: Path) -> list[Any]:
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.load_all(f, Loader=StrictLoader) if d is not None]  # noqa: S506


# ---------------------------------------------------------------------------------------------
# The keys the binaries accept, from their config structs (serde, deny_unknown_fields).


class RustConfigKeys:
    """Fields of the `pub struct`s in some Rust files, resolved through Option/Vec/maps."""

    STRUCT = re.compile(r"pub struct (\w+)\s*\{(.*?)\n\}", re.S)
    FIELD = re.compile(r"pub (\w+): (.+),$")
    ALIAS = re.compile(r'#\[serde\(alias = "(\w+)"\)\]')

    def __init__(self, files: list[Path]) -> None:
        self.structs: dict[str, dict[str, str]] = {}
        for path in files:
            text = path.read_text(encoding="utf-8")
            for m in self.STRUCT.finditer(text):
                fields: dict[str, str] = {}
                aliases: list[str] = []
                for line in m.group(2).splitlines():
                    line = line.strip()
                    if a := self.ALIAS.match(line):
                        aliases.append(a.group(1))
                    elif f := self.FIELD.match(line):
                        for name in [f.group(1), *aliases]:
                            fields[name] = f.group(2)
                        aliases = []
                self.structs[m.group(1)] = fields

    @staticmethod
    def _unwrap(ty: str) -> tuple[str, str]:
        """('struct'|'map'|'leaf', inner type name)."""
        ty = re.sub(r"\b(?:std::)?(?:collections::)?", "", ty.strip())
        while True:
            m = re.fullmatch(r"(?:Option|Vec|Box)<(.+)>", ty)
            if not m:
                break
            ty = m.group(1).strip()
        m = re.fullmatch(r"(?:BTreeMap|HashMap)<\s*String\s*,\s*(.+)>", ty)
        if m:
            return "map", m.group(1).strip()
        return "struct", ty

    def problems(self, struct: str, value: Any, where: str) -> list[str]:
        fields = self.structs.get(struct)
        if fields is None:
            return []  # a leaf (number, string, enum, newtype): the binary checks the value
        if isinstance(value, list):
            out = []
            for i, v in enumerate(value):
                out += self.problems(struct, v, f"{where}[{i}]")
            return out
        if not isinstance(value, dict):
            return [f"{where}: a table is expected, not {type(value).__name__}"]
        out = []
        for key, v in value.items():
            if key not in fields:
                out.append(f"{where}{'.' if where else ''}{key}: unknown key (the binary refuses it)")
                continue
            kind, inner = self._unwrap(fields[key])
            sub = f"{where}{'.' if where else ''}{key}"
            if kind == "map" and isinstance(v, dict):
                for mk, mv in v.items():
                    out += self._leaf_or_struct(inner, mv, f"{sub}.{mk}")
            else:
                out += self._leaf_or_struct(inner, v, sub)
        return out

    def _leaf_or_struct(self, ty: str, value: Any, where: str) -> list[str]:
        kind, inner = self._unwrap(ty)
        if inner in self.structs:
            return self.problems(inner, value, where)
        return []


def relay_keys(repo: Path) -> RustConfigKeys | None:
    src = repo / "relay/src/config.rs"
    return RustConfigKeys([src]) if src.is_file() else None


def cloud_keys(repo: Path) -> RustConfigKeys | None:
    files = [repo / "cloud/src/config.rs", *sorted((repo / "cloud/src/config").glob("*.rs"))]
    return RustConfigKeys(files) if files[0].is_file() else None


def toml_problems(text: str, which: str, keys: RustConfigKeys | None) -> tuple[dict, list[str]]:
    """Parses TOML text; checks its keys against the binary's when the sources are here."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        return {}, [f"not valid TOML: {e}"]
    if keys is None:
        return doc, []
    root = "RelayConfig" if which == "relay" else "Config"
    return doc, keys.problems(root, doc, "")


def relay_toml_semantics(doc: dict, env: set[str]) -> list[str]:
    """The parts of RelayConfig::validate a deployment gets wrong; env: FDT_RELAY_* set."""
    out = []
    has_secret = "relay_secret" in doc or "FDT_RELAY_SECRET" in env
    has_cloud = "cloud_url" in doc or "FDT_RELAY_CLOUD_URL" in env
    if has_cloud != has_secret:
        out.append("cloud_url and relay_secret (FDT_RELAY_SECRET) go together")
    admin = doc.get("admin_listen")
    if admin:
        host = admin.rsplit(":", 1)[0]
        if host not in LOOPBACK_HOSTS and "admin_token" not in doc and "FDT_RELAY_ADMIN_TOKEN" not in env:
            out.append(f"admin_listen {admin} is not loopback: it needs admin_token (FDT_RELAY_ADMIN_TOKEN)")
    if "jwks_url" not in doc and "FDT_RELAY_JWKS_URL" not in env and "agent_public_keys" not in doc:
        out.append("no jwks_url nor agent_public_keys: the relay would accept no agent token")
    for key in ("agent_listen", "http_listen", "https_listen", "admin_listen"):
        v = doc.get(key)
        if v and v.rsplit(":", 1)[0] in LOOPBACK_HOSTS and key != "admin_listen":
            out.append(f"{key} {v} is loopback: unreachable from outside the container")
    if ("tls_cert" in doc) != ("tls_key" in doc):
        out.append("tls_cert and tls_key go together")
    if "tls_cert" not in doc:
        out.append("no tls_cert: the relay would serve its development CA's certificates")
    lo, hi = doc.get("tcp_port_min", 20000), doc.get("tcp_port_max", 20999)
    if not (0 < lo <= hi):
        out.append(f"tcp port range {lo}-{hi} is empty")
    for secret in ("relay_secret", "admin_token", "cert_event_key"):
        if secret in doc:
            out.append(f"{secret} is in the file: pass it through the environment instead")
    return out


def port_of(addr: str | None) -> int | None:
    if not addr:
        return None
    try:
        return int(str(addr).rsplit(":", 1)[1])
    except (IndexError, ValueError):
        return None


# ---------------------------------------------------------------------------------------------
# Containerfiles

INSTRUCTIONS = {
    "FROM",
    "RUN",
    "CMD",
    "LABEL",
    "MAINTAINER",
    "EXPOSE",
    "ENV",
    "ADD",
    "COPY",
    "ENTRYPOINT",
    "VOLUME",
    "USER",
    "WORKDIR",
    "ARG",
    "ONBUILD",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "SHELL",
}


def parse_containerfile(text: str) -> tuple[list[tuple[int, str, str]], list[str]]:
    instrs: list[tuple[int, str, str]] = []
    problems: list[str] = []
    buf, start = "", 0
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if s.startswith("#") or (not s and not buf):
            continue  # comments (also inside continued lines), blank lines
        if not buf:
            start = n
        if s.endswith("\\"):
            buf += s[:-1] + " "
            continue
        buf += s
        word, _, rest = buf.strip().partition(" ")
        instrs.append((start, word.upper(), rest.strip()))
        buf = ""
    if buf:
        problems.append(f"line {start}: the file ends inside a continued instruction")
    for n, word, _ in instrs:
        if word not in INSTRUCTIONS:
            problems.append(f"line {n}: unknown instruction {word}")
    return instrs, problems


def exec_form(rest: str) -> list[str] | None:
    try:
        v = json.loads(rest)
    except json.JSONDecodeError:
        return None
    return v if isinstance(v, list) and v and all(isinstance(x, str) for x in v) else None


def strip_flags(rest: str) -> tuple[dict[str, str], str]:
    flags = {}
    while rest.startswith("--"):
        flag, _, rest = rest.partition(" ")
        k, _, v = flag[2:].partition("=")
        flags[k] = v
        rest = rest.lstrip()
    return flags, rest


def containerfile_problems(path: Path) -> list[str]:
    binary = "fdt-" + path.name.split(".", 1)[1]
    instrs, out = parse_containerfile(path.read_text(encoding="utf-8"))
    if not instrs:
        return ["no instructions"]
    froms = [i for i, (_, w, _) in enumerate(instrs) if w == "FROM"]
    if not froms:
        return out + ["no FROM"]
    if any(w != "ARG" for _, w, _ in instrs[: froms[0]]):
        out.append("only ARG may come before the first FROM")
    last = instrs[froms[-1] :]  # the final stage: the image
    args: dict[str, str] = {}
    for _, w, rest in instrs:
        if w == "ARG":
            k, _, v = rest.partition("=")
            args[k.strip()] = v.strip().strip('"')

    def resolve(s: str) -> str:
        return re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), s)

    def final(word: str) -> list[tuple[int, str]]:
        return [(n, rest) for n, w, rest in last if w == word]

    users = final("USER")
    if not users:
        out.append("no USER: the image would run as root")
    else:
        n, user = users[-1]
        name, _, group = user.partition(":")
        if name in ("root", "0", "") or group in ("root", "0"):
            out.append(f"line {n}: USER {user}: the image would run as root")

    entry = final("ENTRYPOINT")
    entry_argv = exec_form(entry[-1][1]) if entry else None
    if not entry:
        out.append("no ENTRYPOINT")
    elif entry_argv is None:
        out.append(
            f"line {entry[-1][0]}: ENTRYPOINT is not in exec form (a JSON array): distroless has no shell"
        )
    elif os.path.basename(entry_argv[0]) != binary or not entry_argv[0].startswith("/"):
        out.append(f"line {entry[-1][0]}: ENTRYPOINT runs {entry_argv[0]}, not the absolute path of {binary}")
    for n, rest in final("CMD"):
        if exec_form(rest) is None:
            out.append(f"line {n}: CMD is not in exec form (a JSON array)")

    expose: set[str] = set()
    for _, rest in final("EXPOSE"):
        for p in rest.split():
            expose.add(p if "/" in p else p + "/tcp")
    missing = EXPECTED_EXPOSE.get(binary, set()) - expose
    if missing:
        out.append(f"EXPOSE lacks {', '.join(sorted(missing))}")

    checks = final("HEALTHCHECK")
    if len(checks) != 1:
        out.append(f"{len(checks)} HEALTHCHECK instructions in the image's stage, not 1")
    else:
        n, rest = checks[0]
        _, rest = strip_flags(rest)
        kind, _, cmd = rest.partition(" ")
        argv = exec_form(cmd.strip()) if kind.upper() == "CMD" else None
        if argv is None:
            out.append(f"line {n}: HEALTHCHECK must be CMD [exec form] (no shell, no curl in the image)")
        else:
            if entry_argv and argv[0] != entry_argv[0]:
                out.append(f"line {n}: HEALTHCHECK runs {argv[0]}, not the ENTRYPOINT's binary")
            if argv[1:2] != ["healthcheck"] or len(argv) != 3:
                out.append(f'line {n}: HEALTHCHECK must be [<binary>, "healthcheck", URL]')
            else:
                m = re.fullmatch(r"http://127\.0\.0\.1:(\d+)/healthz", argv[2])
                if not m:
                    out.append(f"line {n}: HEALTHCHECK URL {argv[2]} is not http://127.0.0.1:PORT/healthz")
                elif f"{m.group(1)}/tcp" not in expose:
                    out.append(f"line {n}: HEALTHCHECK port {m.group(1)} is not EXPOSEd")

    # The binary: copied from the context to the ENTRYPOINT's path, from a file of its name.
    copied = []
    for n, rest in final("COPY") + final("ADD"):
        flags, rest = strip_flags(rest)
        parts = exec_form(rest) or shlex.split(rest)
        if len(parts) < 2:
            out.append(f"line {n}: COPY needs a source and a destination")
            continue
        srcs, dest = [resolve(p) for p in parts[:-1]], resolve(parts[-1])
        for src in srcs:
            name = os.path.basename(src.rstrip("/"))
            if "from" not in flags and name.startswith("fdt-") and name != binary:
                out.append(f"line {n}: copies {src}, but this image is {binary}'s")
            copied.append((n, flags, src, dest))
    if entry_argv:
        to_entry = [(n, f, s) for n, f, s, d in copied if d == entry_argv[0]]
        if not to_entry:
            out.append(f"no COPY puts the binary at {entry_argv[0]}")
        for n, f, src in to_entry:
            if "from" in f or os.path.basename(src) != binary:
                out.append(f"line {n}: {entry_argv[0]} comes from {src}, not a file named {binary}")

    signals = final("STOPSIGNAL")
    if not signals or signals[-1][1].strip() not in ("SIGTERM", "15"):
        out.append("no STOPSIGNAL SIGTERM")

    env: dict[str, str] = {}
    for _, rest in final("ENV"):
        for item in shlex.split(rest):
            k, _, v = item.partition("=")
            env[k] = v
    if binary == "fdt-relay" and env.get("FDT_RELAY_CONFIG") != RELAY_CONFIG_TARGET:
        out.append(f"ENV FDT_RELAY_CONFIG is not {RELAY_CONFIG_TARGET}")
    if binary == "fdt-cloud":
        if env.get("FDT_CLOUD_CONFIG") != CLOUD_CONFIG_TARGET:
            out.append(f"ENV FDT_CLOUD_CONFIG is not {CLOUD_CONFIG_TARGET}")
        site = env.get("FDT_UI_SITE")
        if not site or not any(d.rstrip("/").startswith(site.rstrip("/") + "/") for _, _, _, d in copied):
            out.append("ENV FDT_UI_SITE does not name the directory the console bundle is copied to")
    return out


# ---------------------------------------------------------------------------------------------
# Compose

VAR = re.compile(r"\$(?:(\$)|\{([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
VAR_EXPR = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])(.*))?", re.S)


def placeholder(name: str) -> str:
    # Long enough for every length rule (16+, 32+ characters), URL- and TOML-safe.
    return f"{name.lower().replace('_', '-')}-placeholder-0123456789abcdef0123456789"


def interpolate(value: Any, used: dict[str, str], problems: list[str], where: str = "") -> Any:
    """Compose's interpolation over the parsed file's values, every variable being unset but
    the required ones (`${X:?...}`), which get a placeholder."""
    if isinstance(value, dict):
        return {
            k: interpolate(v, used, problems, f"{where}.{k}" if where else str(k)) for k, v in value.items()
        }
    if isinstance(value, list):
        return [interpolate(v, used, problems, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match) -> str:
        if m.group(1):
            return "$"
        expr = m.group(2) if m.group(2) is not None else m.group(3)
        e = VAR_EXPR.fullmatch(expr)
        if not e:
            problems.append(f"{where}: ${{{expr}}} is not a variable reference")
            return ""
        name, op, arg = e.group(1), e.group(2), e.group(3)
        if op in (":?", "?"):
            used[name] = "required"
            return placeholder(name)
        if op in (":-", "-"):
            used.setdefault(name, "default")
            return interpolate(arg or "", used, problems, where)
        problems.append(
            f"{where}: ${name} has neither a default (${{{name}:-...}}) nor an error when unset "
            f"(${{{name}:?...}}): it would silently be empty"
        )
        return ""

    return VAR.sub(sub, value)


def parse_port(spec: Any) -> list[tuple[int | None, int, str]]:
    """(host port or None, container port, protocol) for each port of a ports: entry."""
    if isinstance(spec, dict):
        pub = spec.get("published")
        return [(int(pub) if pub is not None else None, int(spec["target"]), spec.get("protocol", "tcp"))]
    s = str(spec)
    proto = "tcp"
    if "/" in s:
        s, proto = s.rsplit("/", 1)
    parts = s.rsplit(":", 2)
    host, cont = (parts[-2], parts[-1]) if len(parts) >= 2 else (None, parts[-1])

    def rng(r: str) -> list[int]:
        a, _, b = r.partition("-")
        return list(range(int(a), int(b or a) + 1))

    cs = rng(cont)
    hs = rng(host) if host else [None] * len(cs)
    if len(hs) != len(cs):
        raise ValueError(f"port range {spec} maps {len(hs)} host ports to {len(cs)}")
    return [(h, c, proto) for h, c in zip(hs, cs, strict=True)]


def mounts(svc: dict) -> list[tuple[str, str, str]]:
    """(type, source, target) of a service's volumes: entries."""
    out = []
    for v in svc.get("volumes", []) or []:
        if isinstance(v, dict):
            out.append((v.get("type", "volume"), str(v.get("source", "")), v["target"]))
        else:
            parts = str(v).split(":")
            src, tgt = (parts[0], parts[1]) if len(parts) > 1 else ("", parts[0])
            kind = "bind" if src.startswith((".", "/", "~")) else "volume"
            out.append((kind, src, tgt))
    return out


def secret_names(svc: dict) -> list[tuple[str, str]]:
    """(secret, path in the container) for each secret of a service."""
    out = []
    for s in svc.get("secrets", []) or []:
        if isinstance(s, dict):
            t = s.get("target", s["source"])
            out.append((s["source"], t if t.startswith("/") else f"/run/secrets/{t}"))
        else:
            out.append((s, f"/run/secrets/{s}"))
    return out


def env_names(svc: dict) -> set[str]:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        return {e.split("=", 1)[0] for e in env}
    return set(env)


def compose_problems(path: Path, repo: Path, report: Report) -> None:
    base = path.parent
    state: dict[str, Any] = {}

    def parse() -> list[str]:
        raw = load_yaml(path)
        problems: list[str] = []
        used: dict[str, str] = {}
        doc = interpolate(raw, used, problems)
        state["doc"], state["used"] = doc, used
        from compose_spec import PyCompose

        try:
            # YAML merge keys (<<) are resolved already: PyYAML did it, as Compose does.
            PyCompose.from_yaml(yaml.safe_dump(doc, sort_keys=False)).validate()
        except ValueError as e:
            # Line numbers would point into the interpolated text, not the file: keep the path.
            problems.append("compose-spec: " + re.sub(r" at line \d+ column \d+", "", str(e)))
        return problems

    report.check(f"{path.name}: interpolates and validates (compose-spec)", parse)
    doc = state.get("doc")
    if not doc:
        return
    services: dict[str, dict] = doc.get("services") or {}
    rkeys, ckeys = relay_keys(repo), cloud_keys(repo)

    def references() -> list[str]:
        out = []
        volumes = set(doc.get("volumes") or {})
        secrets = set(doc.get("secrets") or {})
        configs = doc.get("configs") or {}
        for name, svc in services.items():
            if not svc.get("image"):
                out.append(f"services.{name}: no image")
            if "healthcheck" not in svc:
                out.append(f"services.{name}: no healthcheck")
            deps = svc.get("depends_on") or {}
            for dep in deps if isinstance(deps, (dict, list)) else []:
                if dep not in services:
                    out.append(f"services.{name}.depends_on: no service {dep}")
                elif isinstance(deps, dict):
                    cond = deps[dep].get("condition")
                    if cond == "service_healthy" and "healthcheck" not in services[dep]:
                        out.append(
                            f"services.{name}.depends_on.{dep}: service_healthy, but {dep} has no healthcheck"
                        )
            for kind, src, _ in mounts(svc):
                if kind == "volume" and src and src not in volumes:
                    out.append(f"services.{name}.volumes: volume {src} is not declared")
                if kind == "bind" and not src.startswith("/") and not (base / src).exists():
                    out.append(f"services.{name}.volumes: {src} does not exist (relative to {base})")
            for s, _ in secret_names(svc):
                if s not in secrets:
                    out.append(f"services.{name}.secrets: {s} is not declared")
            for p in svc.get("ports", []) or []:
                try:
                    for _, _, proto in parse_port(p):
                        if proto not in ("tcp", "udp"):
                            out.append(f"services.{name}.ports: {p}: protocol {proto}")
                except (ValueError, KeyError) as e:
                    out.append(f"services.{name}.ports: {p}: {e}")
        host_ports: dict[tuple[int, str], str] = {}
        for name, svc in services.items():
            for p in svc.get("ports", []) or []:
                for h, _, proto in parse_port(p):
                    if h is not None:
                        if (h, proto) in host_ports:
                            out.append(
                                f"host port {h}/{proto} published by {host_ports[(h, proto)]} and {name}"
                            )
                        host_ports[(h, proto)] = name
        for c, spec in configs.items():
            if not any(k in spec for k in ("file", "content", "environment", "external")):
                out.append(f"configs.{c}: no source")
        return out

    report.check(f"{path.name}: references (services, volumes, secrets, files, ports)", references)

    relay_services = {
        n: s for n, s in services.items() if any(t == RELAY_CONFIG_TARGET for _, _, t in mounts(s))
    }
    for name, svc in relay_services.items():

        def relay_check(name: str = name, svc: dict = svc) -> list[str]:
            src = next(s for _, s, t in mounts(svc) if t == RELAY_CONFIG_TARGET)
            cfg_path = base / src
            conf, out = toml_problems(cfg_path.read_text(encoding="utf-8"), "relay", rkeys)
            if out:
                return [f"{src}: {p}" for p in out]
            out += [f"{src}: {p}" for p in relay_toml_semantics(conf, env_names(svc))]
            published = {}
            for p in svc.get("ports", []) or []:
                for h, c, proto in parse_port(p):
                    published[(c, proto)] = h
            agent = port_of(conf.get("agent_listen")) or 7443
            if (agent, "udp") not in published:
                out.append(f"agent_listen port {agent}/udp is not published")
            adv = port_of(conf.get("advertise_agent_addr"))
            host_agent = published.get((agent, "udp"))
            if adv and host_agent is not None and host_agent != adv:
                out.append(
                    f"advertise_agent_addr port {adv} is not the host port of {agent}/udp ({host_agent})"
                )
            for listen, public in (
                ("http_listen", "public_http_port"),
                ("https_listen", "public_https_port"),
            ):
                port = port_of(conf.get(listen))
                if port is None:
                    continue
                if (port, "tcp") not in published:
                    out.append(f"{listen} port {port} is not published")
                elif conf.get(public, published[(port, "tcp")]) != published[(port, "tcp")]:
                    out.append(
                        f"{public} {conf.get(public)} is not the host port of {port}/tcp ({published[(port, 'tcp')]})"
                    )
            lo, hi = conf.get("tcp_port_min", 20000), conf.get("tcp_port_max", 20999)
            for port in range(lo, hi + 1):
                if published.get((port, "tcp")) != port:
                    out.append(
                        f"TCP tunnel port {port} is not published as {port}:{port} (tunnel URLs carry it)"
                    )
                    break
            admin = port_of(conf.get("admin_listen"))
            test = " ".join((svc.get("healthcheck") or {}).get("test") or [])
            if admin is None or f"127.0.0.1:{admin}/healthz" not in test:
                out.append(f"the healthcheck does not probe the admin listener ({conf.get('admin_listen')})")
            return out

        report.check(f"{path.name}: service {name} and its relay config", relay_check)

    cloud_services = {
        n: s
        for n, s in services.items()
        if any(
            (c.get("target") if isinstance(c, dict) else None) == CLOUD_CONFIG_TARGET
            for c in s.get("configs", []) or []
        )
    }
    for name, svc in cloud_services.items():

        def cloud_check(name: str = name, svc: dict = svc) -> list[str]:
            out = []
            cfg = next(
                c for c in svc["configs"] if isinstance(c, dict) and c.get("target") == CLOUD_CONFIG_TARGET
            )
            spec = (doc.get("configs") or {}).get(cfg["source"], {})
            text = spec.get("content")
            if text is None and "file" in spec:
                text = (base / spec["file"]).read_text(encoding="utf-8")
            if text is None:
                return [f"configs.{cfg['source']}: neither content nor file"]
            conf, problems = toml_problems(text, "cloud", ckeys)
            out += [f"configs.{cfg['source']}: {p}" for p in problems]
            env = env_names(svc)
            if "FDT_DATABASE_URL" not in env and "database_url" not in conf:
                out.append("no FDT_DATABASE_URL: the cloud would use SQLite in its data directory")
            if not (conf.get("metrics") or {}).get("token") and "FDT_METRICS_TOKEN" not in env:
                out.append("no metrics token (FDT_METRICS_TOKEN): Prometheus could not scrape /metrics")
            if (conf.get("metrics") or {}).get("token"):
                out.append("[metrics] token is in the file: pass it through FDT_METRICS_TOKEN instead")
            if (
                any(r in services for r in relay_services)
                and "FDT_RELAY_SECRETS" not in env
                and "relay_secrets" not in conf
            ):
                out.append("relays run, but no relay_secrets (FDT_RELAY_SECRETS)")
            if not any(t == "/var/lib/fdt-cloud" for k, _, t in mounts(svc) if k == "volume"):
                out.append("/var/lib/fdt-cloud (signing keys) is not on a named volume")
            return out

        report.check(f"{path.name}: service {name} and its cloud config", cloud_check)

    prom = {
        n: s
        for n, s in services.items()
        if any(t == "/etc/prometheus/prometheus.yml" for _, _, t in mounts(s))
    }
    for name, svc in prom.items():

        def prom_check(name: str = name, svc: dict = svc) -> list[str]:
            out = []
            binds = {t: s for _, s, t in mounts(svc)}
            conf = load_yaml(base / binds["/etc/prometheus/prometheus.yml"])
            jobs = {j["job_name"]: j for j in conf.get("scrape_configs", [])}
            for want in ("fdt-cloud", "fdt-relay"):
                if want not in jobs:
                    out.append(f"no scrape job {want} (the alert rules use that job name)")
            secrets_in = {p for _, p in secret_names(svc)}
            scraped = set()
            for job in jobs.values():
                cred = (job.get("authorization") or {}).get("credentials_file")
                if cred and cred not in secrets_in:
                    out.append(f"job {job['job_name']}: {cred} is not a secret of service {name}")
                for sc in job.get("static_configs", []):
                    for target in sc.get("targets", []):
                        host, _, port = target.partition(":")
                        if host not in services:
                            out.append(f"job {job['job_name']}: target {target}: no service {host}")
                        scraped.add((job["job_name"], host, int(port or 0)))
            for r in relay_services:
                src = next(s for _, s, t in mounts(services[r]) if t == RELAY_CONFIG_TARGET)
                admin = port_of(tomllib.loads((base / src).read_text(encoding="utf-8")).get("admin_listen"))
                if admin is None:
                    out.append(f"{r} has no admin_listen for job fdt-relay to scrape")
                elif ("fdt-relay", r, admin) not in scraped:
                    out.append(f"job fdt-relay does not scrape {r}:{admin}")
            for c in cloud_services:
                if ("fdt-cloud", c, 8780) not in scraped:
                    out.append(f"job fdt-cloud does not scrape {c}:8780")
            rule_dirs = [(t, s) for t, s in binds.items() if t.startswith("/etc/prometheus/rules")]
            for pattern in conf.get("rule_files", []):
                hit = [(t, s) for t, s in rule_dirs if pattern.startswith(t.rstrip("/") + "/")]
                if not hit:
                    out.append(f"rule_files {pattern}: no mounted directory holds it")
                    continue
                t, s = hit[0]
                local = str(base / s) + pattern[len(t) :]
                if not glob.glob(local):
                    out.append(f"rule_files {pattern}: matches nothing in {s}")
            state["prom"] = (conf, binds)
            return out

        report.check(f"{path.name}: service {name} and its scrape config", prom_check)

        promtool = shutil.which("promtool")
        if not promtool:
            report.skip("promtool check config", "promtool not installed (apt-get install prometheus)")
            continue
        if "prom" not in state:
            continue

        def promtool_check(promtool: str = promtool) -> list[str]:
            conf, binds = state["prom"]
            with tempfile.TemporaryDirectory() as tmp:
                token = Path(tmp, "token")
                token.write_text("placeholder-token-0123456789\n")
                conf = json.loads(json.dumps(conf))
                rules_src = next(s for t, s in binds.items() if t.startswith("/etc/prometheus/rules"))
                shutil.copytree(base / rules_src, Path(tmp, "rules"))
                conf["rule_files"] = [
                    str(Path(tmp, "rules")) + p[len("/etc/prometheus/rules") :]
                    for p in conf.get("rule_files", [])
                ]
                for job in conf.get("scrape_configs", []):
                    if (job.get("authorization") or {}).get("credentials_file"):
                        job["authorization"]["credentials_file"] = str(token)
                Path(tmp, "prometheus.yml").write_text(yaml.safe_dump(conf))
                r = subprocess.run(
                    [promtool, "check", "config", str(Path(tmp, "prometheus.yml"))],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if r.returncode != 0:
                    return [(r.stdout + r.stderr).strip()]
            return []

        report.check("compose/prometheus.yml: promtool check config", promtool_check)


# ---------------------------------------------------------------------------------------------
# Kubernetes


def selects(selector: dict | None, labels: dict | None) -> bool:
    """Whether a Service's (plain) or a workload's/PDB's (matchLabels) selector picks labels.
    matchExpressions are not evaluated: such a selector counts as picking nothing."""
    if not selector:
        return False
    if "matchLabels" in selector or "matchExpressions" in selector:
        if selector.get("matchExpressions"):
            return False
        selector = selector.get("matchLabels") or {}
    return bool(selector) and all((labels or {}).get(k) == v for k, v in selector.items())


def k8s_problems(kdir: Path, repo: Path, readme: Path, versions: list[str], report: Report) -> None:
    from kubernetes_validate import utils as kv

    files = sorted(p for p in kdir.glob("*.y*ml") if p.name != "kustomization.yaml")
    objects: list[tuple[Path, dict]] = []

    def kustomization() -> list[str]:
        k = kdir / "kustomization.yaml"
        if not k.is_file():
            return ["k8s/kustomization.yaml is missing"]
        listed = load_yaml(k).get("resources", [])
        out = [f"lists {r}, which does not exist" for r in listed if not (kdir / r).is_file()]
        out += [f"does not list {f.name}" for f in files if f.name not in listed]
        return out

    report.check("k8s/kustomization.yaml: lists every manifest", kustomization)

    for f in files:
        for version in versions:

            def schema(f: Path = f, version: str = version) -> list[str]:
                out = []
                docs = load_yaml_all(f)
                if not docs:
                    return ["no objects"]
                for d in docs:
                    if not isinstance(d, dict) or "kind" not in d or "apiVersion" not in d:
                        out.append("an object without kind or apiVersion")
                        continue
                    what = f"{d['kind']}/{(d.get('metadata') or {}).get('name', '?')}"
                    try:
                        kv.validate(d, version, strict=True)
                    except kv.ValidationError as e:
                        path = ".".join(str(p) for p in e.path)
                        out.append(f"{what}: {path}: {e.message}")
                    except kv.SchemaNotFoundError as e:
                        out.append(f"{what}: {e.message}")
                if version == versions[0]:
                    objects.extend((f, d) for d in docs if isinstance(d, dict))
                return out

            report.check(f"k8s/{f.name}: schema of Kubernetes {version}, strict", schema)

    if not objects:
        return
    by_kind: dict[str, list[dict]] = {}
    for _, d in objects:
        by_kind.setdefault(d["kind"], []).append(d)
    deployments = by_kind.get("Deployment", [])
    configmaps = {c["metadata"]["name"]: c for c in by_kind.get("ConfigMap", [])}
    readme_text = readme.read_text(encoding="utf-8") if readme.is_file() else ""
    rkeys, ckeys = relay_keys(repo), cloud_keys(repo)

    def pod_containers(dep: dict) -> list[dict]:
        spec = dep["spec"]["template"]["spec"]
        return spec.get("initContainers", []) + spec.get("containers", [])

    def references() -> list[str]:
        out = []
        namespaces = {n["metadata"]["name"] for n in by_kind.get("Namespace", [])}
        for f, d in objects:
            what = f"{f.name}: {d['kind']}/{d['metadata']['name']}"
            if d["kind"] == "Secret":
                out.append(f"{what}: a Secret in the manifests (values must never be committed)")
            if d["kind"] != "Namespace" and d["metadata"].get("namespace") not in namespaces:
                out.append(f"{what}: namespace {d['metadata'].get('namespace')} is not the Namespace here")
        for dep in deployments:
            name = dep["metadata"]["name"]
            tmpl = dep["spec"]["template"]
            if not selects(dep["spec"]["selector"], tmpl["metadata"].get("labels")):
                out.append(f"Deployment/{name}: its selector does not match its pods' labels")
            spec = tmpl["spec"]
            volumes = {v["name"]: v for v in spec.get("volumes", [])}
            for c in pod_containers(dep):
                for m in c.get("volumeMounts", []):
                    if m["name"] not in volumes:
                        out.append(
                            f"Deployment/{name}: container {c['name']} mounts volume {m['name']}, not declared"
                        )
                    sub = m.get("subPath")
                    v = volumes.get(m["name"], {})
                    if sub and "configMap" in v:
                        cm = configmaps.get(v["configMap"]["name"])
                        if cm and sub not in cm.get("data", {}):
                            out.append(
                                f"Deployment/{name}: subPath {sub} is not a key of ConfigMap {cm['metadata']['name']}"
                            )
                ports = {p.get("name") for p in c.get("ports", [])}
                for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                    port = ((c.get(probe) or {}).get("httpGet") or {}).get("port")
                    if isinstance(port, str) and port not in ports:
                        out.append(
                            f"Deployment/{name}: {c['name']}.{probe} uses port {port}, not a port of the container"
                        )
                for e in c.get("env", []):
                    ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                    if ref:
                        out += documented_secret(name, ref["name"], [ref["key"]])
            for v in volumes.values():
                if "configMap" in v and v["configMap"]["name"] not in configmaps:
                    out.append(
                        f"Deployment/{name}: volume {v['name']}: no ConfigMap {v['configMap']['name']} here"
                    )
                if "secret" in v:
                    keys = [i["key"] for i in v["secret"].get("items", [])]
                    out += documented_secret(name, v["secret"]["secretName"], keys)
        for kind in ("Service", "PodDisruptionBudget"):
            for obj in by_kind.get(kind, []):
                sel = obj["spec"].get("selector")
                pods = [
                    dep
                    for dep in deployments
                    if selects(sel, dep["spec"]["template"]["metadata"].get("labels"))
                ]
                if not pods:
                    out.append(f"{kind}/{obj['metadata']['name']}: selects no Deployment's pods")
                    continue
                if kind != "Service":
                    continue
                for p in obj["spec"].get("ports", []):
                    tp, proto = p.get("targetPort", p["port"]), p.get("protocol", "TCP")
                    for dep in pods:
                        cports = [
                            cp
                            for c in dep["spec"]["template"]["spec"]["containers"]
                            for cp in c.get("ports", [])
                        ]
                        if isinstance(tp, str):
                            match = [cp for cp in cports if cp.get("name") == tp]
                            if not match:
                                out.append(
                                    f"Service/{obj['metadata']['name']}: targetPort {tp} is no port of {dep['metadata']['name']}"
                                )
                            elif match[0].get("protocol", "TCP") != proto:
                                out.append(
                                    f"Service/{obj['metadata']['name']}: port {p['name']} is {proto}, container port {tp} is {match[0].get('protocol', 'TCP')}"
                                )
        return list(dict.fromkeys(out))  # once each, in order

    def documented_secret(dep: str, secret: str, keys: list[str]) -> list[str]:
        out = []
        if secret not in readme_text:
            out.append(f"Deployment/{dep}: Secret {secret} is not described in README.md")
        for k in keys:
            if k not in readme_text:
                out.append(f"Deployment/{dep}: key {k} of Secret {secret} is not described in README.md")
        return out

    report.check("k8s: references (namespace, selectors, ports, volumes, ConfigMaps, Secrets)", references)

    def security() -> list[str]:
        out = []
        for dep in deployments:
            name = dep["metadata"]["name"]
            spec = dep["spec"]["template"]["spec"]
            psc = spec.get("securityContext") or {}
            if psc.get("runAsNonRoot") is not True:
                out.append(f"Deployment/{name}: securityContext.runAsNonRoot is not true")
            if (psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
                out.append(f"Deployment/{name}: seccompProfile is not RuntimeDefault")
            if not spec.get("terminationGracePeriodSeconds", 30) >= 30:
                out.append(
                    f"Deployment/{name}: terminationGracePeriodSeconds under 30 (the relay drains 10 s)"
                )
            for c in pod_containers(dep):
                sc = c.get("securityContext") or {}
                where = f"Deployment/{name}: container {c['name']}"
                if sc.get("allowPrivilegeEscalation") is not False:
                    out.append(f"{where}: allowPrivilegeEscalation is not false")
                if sc.get("readOnlyRootFilesystem") is not True:
                    out.append(f"{where}: readOnlyRootFilesystem is not true")
                caps = sc.get("capabilities") or {}
                if "ALL" not in (caps.get("drop") or []):
                    out.append(f"{where}: capabilities do not drop ALL")
                if caps.get("add"):
                    out.append(f"{where}: adds capabilities {caps['add']}")
                if sc.get("runAsUser") == 0 or sc.get("privileged"):
                    out.append(f"{where}: runs as root or privileged")
                res = c.get("resources") or {}
                for part in ("requests", "limits"):
                    for r in ("cpu", "memory"):
                        if r not in (res.get(part) or {}):
                            out.append(f"{where}: no resources.{part}.{r}")
                if c in spec.get("containers", []) and not any(
                    (c.get(p) or {}).get("httpGet") for p in ("readinessProbe", "livenessProbe")
                ):
                    out.append(f"{where}: no httpGet readiness/liveness probe")
        return out

    report.check(
        "k8s: pod security (non-root, read-only root, no capabilities, seccomp) and resources", security
    )

    for cm_name, cm in configmaps.items():
        for key, text in (cm.get("data") or {}).items():
            if not key.endswith(".toml"):
                continue
            which = "relay" if key.startswith("relay") else "cloud"

            def toml_check(
                cm_name: str = cm_name, key: str = key, text: str = text, which: str = which
            ) -> list[str]:
                conf, out = toml_problems(text, which, rkeys if which == "relay" else ckeys)
                if out:
                    return out
                users = [
                    d
                    for d in deployments
                    if any(
                        (v.get("configMap") or {}).get("name") == cm_name
                        for v in d["spec"]["template"]["spec"].get("volumes", [])
                    )
                ]
                if not users:
                    return out + [f"no Deployment mounts ConfigMap {cm_name}"]
                env = {e["name"] for d in users for c in pod_containers(d) for e in c.get("env", [])}
                if which == "cloud":
                    if (conf.get("metrics") or {}).get("token"):
                        out.append("[metrics] token in a ConfigMap: give it as FDT_METRICS_TOKEN from a Secret")
                    if "FDT_METRICS_TOKEN" not in env:
                        out.append("no FDT_METRICS_TOKEN: Prometheus could not scrape /metrics")
                    if "domains" not in conf or "key_file" not in conf["domains"]:
                        out.append(
                            "no [domains] key_file: each replica would seal certificate keys with its own key"
                        )
                    return out
                out += relay_toml_semantics(conf, env)
                for dep in users:
                    cports = {
                        (p["containerPort"], p.get("protocol", "TCP")): p.get("name")
                        for c in dep["spec"]["template"]["spec"]["containers"]
                        for p in c.get("ports", [])
                    }
                    svc_targets = set()
                    for s in by_kind.get("Service", []):
                        if selects(
                            s["spec"].get("selector"), dep["spec"]["template"]["metadata"].get("labels")
                        ):
                            for p in s["spec"]["ports"]:
                                tp = p.get("targetPort", p["port"])
                                proto = p.get("protocol", "TCP")
                                if isinstance(tp, str):
                                    tp = next(
                                        (cp for (cp, pr), n in cports.items() if n == tp and pr == proto),
                                        None,
                                    )
                                svc_targets.add((tp, proto, p["port"]))
                    targets = {(t, pr) for t, pr, _ in svc_targets}
                    agent = port_of(conf.get("agent_listen")) or 7443
                    if (agent, "UDP") not in targets:
                        out.append(
                            f"agent_listen port {agent}/udp: no Service of {dep['metadata']['name']} targets it"
                        )
                    for listen, public in (
                        ("http_listen", "public_http_port"),
                        ("https_listen", "public_https_port"),
                    ):
                        port = port_of(conf.get(listen))
                        if port is None:
                            continue
                        fronts = [sp for t, pr, sp in svc_targets if t == port and pr == "TCP"]
                        if not fronts:
                            out.append(f"{listen} port {port}: no Service targets it")
                        elif conf.get(public, port) not in fronts:
                            out.append(
                                f"{public} {conf.get(public)} is not the Service port in front of {port} ({fronts})"
                            )
                    lo, hi = conf.get("tcp_port_min", 20000), conf.get("tcp_port_max", 20999)
                    missing = [p for p in range(lo, hi + 1) if (p, "TCP", p) not in svc_targets]
                    if missing:
                        out.append(
                            f"TCP tunnel ports {missing[0]}..{missing[-1]} ({len(missing)}) are not Service ports of {dep['metadata']['name']} (port = targetPort)"
                        )
                    admin = port_of(conf.get("admin_listen"))
                    for c in dep["spec"]["template"]["spec"]["containers"]:
                        probe = (c.get("readinessProbe") or {}).get("httpGet") or {}
                        pp = probe.get("port")
                        pp = next((cp for (cp, _), n in cports.items() if n == pp), pp)
                        if pp != admin or probe.get("path") != "/healthz":
                            out.append(
                                f"{dep['metadata']['name']}: readinessProbe is not GET /healthz on admin_listen's port {admin}"
                            )
                return out

            report.check(f"k8s: ConfigMap {cm_name} {key}", toml_check)


# ---------------------------------------------------------------------------------------------


def main() -> int:
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--deploy-dir", type=Path, default=here)
    ap.add_argument(
        "--repo",
        type=Path,
        default=here.parent.parent,
        help="repository root, for the config structs' sources",
    )
    ap.add_argument(
        "--k8s-version",
        action="append",
        dest="versions",
        help="Kubernetes version to validate against (repeatable)",
    )
    a = ap.parse_args()
    d = a.deploy_dir.resolve()
    versions = a.versions or ["1.30.0"]
    report = Report()
    print(f"checking {d} (Kubernetes schemas: {', '.join(versions)})")
    if relay_keys(a.repo) is None or cloud_keys(a.repo) is None:
        report.skip("config keys", f"no relay/ and cloud/ sources under {a.repo}")

    cfs = sorted(d.glob("Containerfile.*"))
    if not cfs:
        report.check("Containerfiles", lambda: [f"no Containerfile.* in {d}"])
    for cf in cfs:
        report.check(f"{cf.name}: shape", lambda cf=cf: containerfile_problems(cf))

    compose = d / "compose.yaml"
    if compose.is_file():
        compose_problems(compose, a.repo, report)
    else:
        report.check("compose.yaml", lambda: [f"{compose} is missing"])

    kdir = d / "k8s"
    if kdir.is_dir():
        k8s_problems(kdir, a.repo, d / "README.md", versions, report)
    else:
        report.check("k8s/", lambda: [f"{kdir} is missing"])

    print(f"deploy-check: {report.passed} passed, {report.failed} failed")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
