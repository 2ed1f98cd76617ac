#!/usr/bin/env python3
"""docker_check — keeps docker/ honest.

This checks what can be checked without a Docker engine, against the real
`coffee` binary and the real build (scripts/docker_stack.sh builds and runs
the images on an engine):

  compose.yaml  parses; every COFFEE_* variable it sets is one `coffee --help`
                lists, with a value the option accepts; every command it runs
                is a real subcommand with real flags; every port agrees (the
                instance's listen port, its published port, its health check,
                the URLs other services use to reach it); Kafka brokers and
                topic, MySQL host, databases and user agree with the kafka,
                kafka-init and mysql services and docker/mysql-init.sql; each
                service depends (transitively) on what it talks to; both
                roles run at least twice.
  Dockerfile    Debian 12 stages; the build stage installs the package of
                every pkg-config module CMakeLists.txt requires; the runtime
                stage installs the package of every shared library the built
                binary links; non-root user, EXPOSE of the default port,
                HEALTHCHECK, ENTRYPOINT ["coffee", "serve"].
  deps.sh       installs every -dev package the build needs.

    docker_check.py --coffee BUILD/coffee --source REPO            check
    docker_check.py --coffee BUILD/coffee --source REPO --self-test
        proves the checks bite: breaks copies of the files in known ways
        and fails unless every break is reported.

Exit 0 when all is well, 1 with one line per problem, 2 on bad usage.
"""
import argparse
import copy
import os
import re
import shlex
import subprocess
import sys

try:
    import yaml
except ImportError:     # deps.sh installs python3-yaml
    print("docker_check: python3-yaml is missing (bash scripts/deps.sh installs it)")
    sys.exit(1)

# Libraries every C program links that come with the compiler or libc, not
# with a package the runtime image must name.
TOOLCHAIN_LIBS = re.compile(
    r"^(libc|libm|libpthread|libdl|librt|libgcc_s|libasan|libubsan|liblsan|libtsan|"
    r"ld-linux[-.\w]*)\.so")

COFFEE_IMAGE_DOCKERFILE = "docker/Dockerfile"


# ---------------------------------------------------------------------------
#  What the binary says about itself

def help_facts(coffee):
    """Runs `coffee --help` and reads its options, variables and commands."""
    try:
        out = subprocess.run([coffee, "--help"], capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SystemExit("docker_check: cannot run %s --help: %s" % (coffee, exc))
    if out.returncode != 0:
        raise SystemExit("docker_check: %s --help exited %d" % (coffee, out.returncode))
    return parse_help(out.stdout + out.stderr)


def parse_help(text):
    """The facts the checks use, from the text of `coffee --help`."""
    facts = {"text": text, "commands": {}, "options": {}, "vars": set()}
    lines = text.splitlines()
    for line in lines:
        m = re.match(r"^\s*(?:usage:)?\s*coffee\s+([a-z][a-z-]*)\b(.*)$", line)
        if m:
            facts["commands"][m.group(1)] = set(re.findall(r"--([a-z][a-z-]*)", m.group(2)))
    # Option table: "  --port N    HTTP port" then "     env COFFEE_PORT, default 8080".
    current = None
    for line in lines:
        m = re.match(r"^\s+--([a-z][a-z-]*)\s+(\S+)", line)
        if m:
            metavar = m.group(2)
            current = {"flag": m.group(1), "metavar": metavar, "default": None,
                       "choices": metavar.split("|") if "|" in metavar else None}
            continue
        m = re.match(r"^\s+env\s+(COFFEE_[A-Z0-9_]+)(?:,\s*default\s+(\S+))?", line)
        if m and current:
            current["env"] = m.group(1)
            current["default"] = m.group(2)
            facts["options"][m.group(1)] = current
            current = None
    facts["vars"] = set(re.findall(r"\bCOFFEE_[A-Z0-9_]+\b", text))
    facts["serve_flags"] = {o["flag"] for o in facts["options"].values()}
    return facts


def option_by_flag(facts, flag):
    for opt in facts["options"].values():
        if opt["flag"] == flag:
            return opt
    return None


# ---------------------------------------------------------------------------
#  What the system says about packages

def have_dpkg():
    return subprocess.run(["sh", "-c", "command -v dpkg-query >/dev/null"]).returncode == 0


def package_of(path_glob):
    """The Debian package that ships a file matching path_glob, or None."""
    out = subprocess.run(["dpkg-query", "-S", path_glob], capture_output=True, text=True)
    for line in out.stdout.splitlines():
        if line.startswith("diversion"):
            continue
        pkg = line.split(":", 1)[0].split(",")[0].strip()
        if pkg:
            return pkg
    return None


def build_packages(source):
    """Packages that provide the pkg-config modules CMakeLists.txt requires."""
    cmake = read(os.path.join(source, "CMakeLists.txt"))
    modules = re.findall(r"pkg_check_modules\(\s*\w+\s+REQUIRED\s+(?:IMPORTED_TARGET\s+)?([\w.+-]+)",
                         cmake)
    found, problems = {}, []
    for mod in modules:
        pcdir = subprocess.run(["pkg-config", "--variable=pcfiledir", mod],
                               capture_output=True, text=True).stdout.strip()
        pc = os.path.realpath(os.path.join(pcdir, mod + ".pc")) if pcdir else ""
        pkg = package_of("*/" + os.path.basename(pc)) if pc else None
        if not pkg:
            problems.append("CMakeLists.txt: no installed package provides pkg-config module %s"
                            % mod)
        else:
            found[mod] = pkg
    return found, problems


def runtime_packages(coffee):
    """Packages that provide the shared libraries the binary links (NEEDED)."""
    out = subprocess.run(["readelf", "-d", coffee], capture_output=True, text=True)
    needed = re.findall(r"\(NEEDED\).*\[([^\]]+)\]", out.stdout)
    found, problems = {}, []
    if not needed:
        problems.append("%s: readelf found no NEEDED libraries" % coffee)
    for soname in needed:
        if TOOLCHAIN_LIBS.match(soname):
            continue
        pkg = package_of("*/" + soname)
        if not pkg:
            problems.append("%s links %s, which no installed package provides" % (coffee, soname))
        else:
            found[soname] = pkg
    return found, problems


# ---------------------------------------------------------------------------
#  Reading the files

def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def parse_dockerfile(text):
    """Stages of a Dockerfile: [{"from", "name", "instructions": [(KEY, args)]}]."""
    joined = re.sub(r"\\\n", " ", text)
    stages = []
    for raw in joined.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, args = line.partition(" ")
        key = key.upper()
        args = args.strip()
        if key == "FROM":
            parts = args.split()
            stages.append({"from": parts[0],
                           "name": parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None,
                           "instructions": []})
        elif stages:
            stages[-1]["instructions"].append((key, args))
    return stages


def apt_installs(stage):
    """Package names a stage passes to apt-get install."""
    pkgs = set()
    for key, args in stage["instructions"]:
        if key != "RUN":
            continue
        for cmd in re.split(r"&&|;|\|\|", args):
            words = cmd.split()
            if len(words) >= 2 and words[0] in ("apt-get", "apt") and "install" in words:
                after = words[words.index("install") + 1:]
                pkgs.update(w for w in after if not w.startswith("-") and "=" not in w)
    return pkgs


def instruction(stage, key):
    """Args of the last instruction key in a stage, or None."""
    found = None
    for k, args in stage["instructions"]:
        if k == key:
            found = args
    return found


def exec_form(args):
    """A JSON-array (exec form) instruction argument as a list, or None."""
    if args is None:
        return None
    args = args.strip()
    if not args.startswith("["):
        return shlex.split(args)
    try:
        return yaml.safe_load(args)     # JSON is YAML
    except yaml.YAMLError:
        return None


def dockerfile_env(stage):
    """ENV settings of a stage (KEY=VALUE form and the old KEY VALUE form)."""
    env = {}
    for key, args in stage["instructions"]:
        if key != "ENV":
            continue
        if "=" in args.split()[0]:
            for word in shlex.split(args):
                k, _, v = word.partition("=")
                env[k] = v
        else:
            k, _, v = args.partition(" ")
            env[k] = v.strip()
    return env


# ---------------------------------------------------------------------------
#  Checks

def as_list(value):
    """Compose's string-or-list command forms as a list."""
    if value is None:
        return None
    if isinstance(value, str):
        return shlex.split(value)
    return [str(v) for v in value]


def env_of(service):
    """A service's environment as a dict (map or KEY=VALUE list form)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        out = {}
        for item in env:
            k, _, v = str(item).partition("=")
            out[k] = v
        return out
    return {str(k): ("" if v is None else str(v)) for k, v in env.items()}


def flag_value(args, flag):
    """Value of --flag V or --flag=V in args, or None."""
    for i, a in enumerate(args):
        if a == "--" + flag and i + 1 < len(args):
            return args[i + 1]
        if a.startswith("--" + flag + "="):
            return a.split("=", 1)[1]
    return None


def host_port(text):
    m = re.match(r"^\[?([\w.-]+)\]?:(\d+)$", text)
    return (m.group(1), int(m.group(2))) if m else (None, None)


def url_host_port(url):
    m = re.match(r"^[a-z]+://(?:[^@/]*@)?([\w.-]+)(?::(\d+))?(/[^?#]*)?", url)
    if not m:
        return None, None, None
    port = int(m.group(2)) if m.group(2) else (443 if url.startswith("https") else 80)
    return m.group(1), port, m.group(3) or "/"


def published_ports(service):
    """(host, container) pairs of a service's ports (short and long syntax)."""
    pairs = []
    for p in service.get("ports") or []:
        if isinstance(p, dict):
            pairs.append((str(p.get("published", "")), str(p.get("target", ""))))
            continue
        text = str(p).split("/")[0]
        parts = text.split(":")
        if len(parts) == 1:
            pairs.append(("", parts[0]))
        else:
            pairs.append((parts[-2], parts[-1]))
    return pairs


def health_urls(test):
    """URLs a health check test command fetches."""
    words = as_list(test) or []
    return [w for w in " ".join(words).split() if re.match(r"^\"?https?://", w)]


class Checker:
    def __init__(self, compose, dockerfile, initsql, deps, facts, build_pkgs, runtime_pkgs,
                 docker_dir):
        self.compose = compose
        self.stages = parse_dockerfile(dockerfile)
        self.initsql = initsql
        self.deps = deps
        self.facts = facts
        self.build_pkgs = build_pkgs
        self.runtime_pkgs = runtime_pkgs
        self.docker_dir = docker_dir
        self.problems = []

    def bad(self, fmt, *args):
        self.problems.append(fmt % args if args else fmt)

    # -- the image --------------------------------------------------------

    def check_dockerfile(self):
        if len(self.stages) < 2:
            self.bad("Dockerfile: expected a build stage and a runtime stage, found %d",
                     len(self.stages))
            return
        for st in self.stages:
            if not re.match(r"^(docker\.io/(library/)?)?debian:(12|bookworm)(-slim)?(@.*)?$",
                            st["from"]):
                self.bad("Dockerfile: stage FROM %s is not Debian 12 (bookworm)", st["from"])
        build = self.stages[0]
        final = self.stages[-1]
        have = apt_installs(build)
        for mod, pkg in sorted(self.build_pkgs.items()):
            if pkg not in have:
                self.bad("Dockerfile: build stage does not install %s (pkg-config %s, "
                         "required by CMakeLists.txt)", pkg, mod)
            if not re.search(r"(^|\s)%s(\s|$)" % re.escape(pkg), self.deps):
                self.bad("scripts/deps.sh does not install %s (pkg-config %s)", pkg, mod)
        if not re.search(r"--target\s+coffee\b", " ".join(a for _, a in build["instructions"])):
            self.bad("Dockerfile: build stage does not build the coffee target")
        have = apt_installs(final)
        for soname, pkg in sorted(self.runtime_pkgs.items()):
            if pkg not in have:
                self.bad("Dockerfile: runtime stage does not install %s (coffee links %s)",
                         pkg, soname)
        copies = [a for k, a in final["instructions"] if k == "COPY" and "--from=" in a]
        if not any(re.search(r"\bcoffee\s+\S*/bin/coffee$", a) or a.endswith("/coffee")
                   for a in copies):
            self.bad("Dockerfile: runtime stage does not copy the coffee binary from the build")
        user = instruction(final, "USER")
        if not user or user.split(":")[0] in ("root", "0"):
            self.bad("Dockerfile: runtime stage must run as a non-root USER (got %s)", user)
        entry = exec_form(instruction(final, "ENTRYPOINT"))
        if entry != ["coffee", "serve"]:
            self.bad("Dockerfile: ENTRYPOINT is %s, expected [\"coffee\", \"serve\"]", entry)
        elif entry[1] not in self.facts["commands"]:
            self.bad("Dockerfile: ENTRYPOINT runs `coffee %s`, not a command coffee --help lists",
                     entry[1])
        env = dockerfile_env(final)
        self.check_env("Dockerfile ENV", env)
        port = self.serve_port(env, [])
        exposed = set()
        for k, a in final["instructions"]:
            if k == "EXPOSE":
                exposed.update(w.split("/")[0] for w in a.split())
        if str(port) not in exposed:
            self.bad("Dockerfile: EXPOSE %s does not include the port coffee serves on (%s)",
                     " ".join(sorted(exposed)) or "nothing", port)
        hc = instruction(final, "HEALTHCHECK")
        if not hc or hc.strip().upper() == "NONE":
            self.bad("Dockerfile: no HEALTHCHECK")
        else:
            if "curl" in hc and "curl" not in have:
                self.bad("Dockerfile: HEALTHCHECK uses curl but the runtime stage does not "
                         "install it")
            m = re.search(r"https?://[\w.]+:(\$\{?COFFEE_PORT\}?|\d+)(/\S*)", hc)
            if not m:
                self.bad("Dockerfile: HEALTHCHECK does not fetch http://HOST:PORT/health")
            else:
                if m.group(1).isdigit() and int(m.group(1)) != port:
                    self.bad("Dockerfile: HEALTHCHECK port %s is not the serve port %s",
                             m.group(1), port)
                if "COFFEE_PORT" in m.group(1) and "COFFEE_PORT" not in env:
                    self.bad("Dockerfile: HEALTHCHECK uses $COFFEE_PORT but ENV does not set it")
                if not m.group(2).startswith("/health"):
                    self.bad("Dockerfile: HEALTHCHECK fetches %s, not /health", m.group(2))
        self.image_env = env
        self.image_entry = entry or []
        self.image_has_healthcheck = bool(hc)

    # -- settings -----------------------------------------------------------

    def check_env(self, where, env):
        for key, value in sorted(env.items()):
            if not key.startswith("COFFEE_"):
                continue
            if key not in self.facts["vars"]:
                self.bad("%s: %s is not a variable `coffee --help` lists", where, key)
                continue
            opt = self.facts["options"].get(key)
            if not opt or "${" in value:
                continue
            if opt["choices"] and value not in opt["choices"]:
                self.bad("%s: %s=%s is not one of %s", where, key, value, "|".join(opt["choices"]))
            if opt["metavar"] == "N" and not re.match(r"^-?\d+$", value):
                self.bad("%s: %s=%s is not a number", where, key, value)

    def setting(self, env, args, flag):
        """The value coffee serve uses for flag: the flag, else env, else image, else default."""
        opt = option_by_flag(self.facts, flag)
        if opt is None:
            return None
        value = flag_value(args, flag)
        if value is None:
            value = env.get(opt["env"])
        if value is None:
            value = getattr(self, "image_env", {}).get(opt["env"])
        if value is None:
            value = opt["default"]
        return value

    def serve_port(self, env, args):
        value = self.setting(env, args, "port")
        try:
            return int(value)
        except (TypeError, ValueError):
            self.bad("cannot tell the port coffee serve listens on (got %s)", value)
            return -1

    # -- compose ------------------------------------------------------------

    def coffee_services(self):
        """Services that run the coffee image: built from docker/Dockerfile."""
        out = {}
        for name, svc in (self.compose.get("services") or {}).items():
            b = svc.get("build")
            dockerfile = None
            if isinstance(b, dict):
                dockerfile = os.path.normpath(os.path.join(b.get("context", "."),
                                                           b.get("dockerfile", "Dockerfile")))
            elif isinstance(b, str):
                dockerfile = os.path.normpath(os.path.join(b, "Dockerfile"))
            if dockerfile is not None:
                if dockerfile != os.path.normpath(os.path.join("..", COFFEE_IMAGE_DOCKERFILE)):
                    self.bad("compose %s: builds %s, not %s (relative to docker/)", name,
                             dockerfile, COFFEE_IMAGE_DOCKERFILE)
                out[name] = svc
        return out

    def command_of(self, name, svc):
        """(subcommand, args) that a coffee service runs."""
        entry = as_list(svc.get("entrypoint"))
        if entry is None:
            entry = list(self.image_entry)
        cmd = as_list(svc.get("command")) or []
        full = entry + cmd
        if len(full) < 2 or os.path.basename(full[0]) != "coffee":
            self.bad("compose %s: runs %s, not coffee SUBCOMMAND", name, full)
            return None, []
        sub, args = full[1], full[2:]
        if sub not in self.facts["commands"]:
            self.bad("compose %s: `coffee %s` is not a command coffee --help lists (%s)", name,
                     sub, ", ".join(sorted(self.facts["commands"])))
            return None, args
        known = self.facts["serve_flags"] if sub == "serve" else \
            self.facts["commands"][sub] | (self.facts["serve_flags"] if sub == "reconcile" else set())
        for a in args:
            if a.startswith("--"):
                flag = a[2:].split("=", 1)[0]
                if flag not in known:
                    self.bad("compose %s: `coffee %s` has no flag --%s", name, sub, flag)
        return sub, args

    def deps_closure(self, name):
        """Services name depends on, directly or not."""
        seen, todo = set(), [name]
        services = self.compose.get("services") or {}
        while todo:
            svc = services.get(todo.pop()) or {}
            d = svc.get("depends_on") or []
            for target in (d.keys() if isinstance(d, dict) else d):
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
        return seen

    def check_compose(self):
        services = self.compose.get("services") or {}
        if not services:
            self.bad("compose: no services")
            return
        coffee = self.coffee_services()
        listen = {}         # service → port it listens on inside its container
        roles = {}
        argv = {}           # service → arguments after the subcommand
        for name, svc in coffee.items():
            env = env_of(svc)
            self.check_env("compose %s" % name, env)
            sub, args = self.command_of(name, svc)
            argv[name] = args
            if sub == "serve":
                listen[name] = self.serve_port(env, args)
                roles[name] = self.setting(env, args, "role")
            elif sub == "mock-collector":
                port = flag_value(args, "port")
                if port is None or not port.isdigit():
                    self.bad("compose %s: mock-collector needs --port N", name)
                else:
                    listen[name] = int(port)
                if flag_value(args, "bind") in (None, "127.0.0.1", "localhost"):
                    self.bad("compose %s: mock-collector must --bind 0.0.0.0 to be reachable",
                             name)
            if sub == "serve" and self.setting(env, args, "bind") in ("127.0.0.1", "localhost"):
                self.bad("compose %s: COFFEE_BIND %s is unreachable from other containers",
                         name, self.setting(env, args, "bind"))
        for role in ("order", "display", "projector"):
            n = sum(1 for r in roles.values() if r == role)
            if n < 2:
                self.bad("compose: %d service(s) run --role %s; expected at least 2", n, role)

        # Ports: published container side, health checks, uniqueness on the host.
        host_ports = {}
        for name, svc in services.items():
            for host, target in published_ports(svc):
                if host:
                    if host in host_ports:
                        self.bad("compose: host port %s published by both %s and %s", host,
                                 host_ports[host], name)
                    host_ports[host] = name
                if name in listen and target != str(listen[name]):
                    self.bad("compose %s: publishes container port %s but listens on %s", name,
                             target, listen[name])
            if name in listen:
                if not published_ports(svc):
                    self.bad("compose %s: publishes no port (it listens on %s)", name,
                             listen[name])
                hc = svc.get("healthcheck")
                if hc and not hc.get("disable"):
                    for url in health_urls(hc.get("test")):
                        host, port, path = url_host_port(url.strip('"'))
                        if port != listen[name]:
                            self.bad("compose %s: health check fetches port %s but it listens "
                                     "on %s", name, port, listen[name])
                        if name in roles and path != "/health":
                            self.bad("compose %s: health check fetches %s, not /health", name,
                                     path)

        # Who talks to whom.
        mysql = {n: s for n, s in services.items() if str(s.get("image", "")).startswith(("mysql", "mariadb"))}
        kafka = {n: s for n, s in services.items() if "kafka" in str(s.get("image", ""))
                 and not s.get("entrypoint") and not s.get("command")}
        topics = set()
        for n, s in services.items():
            words = (as_list(s.get("entrypoint")) or []) + (as_list(s.get("command")) or [])
            if any("kafka-topics" in w for w in words) and "--create" in words:
                t = flag_value(words, "topic")
                if t:
                    topics.add((n, t))
        databases = set(re.findall(r"CREATE\s+DATABASE\s+(?:IF\s+NOT\s+EXISTS\s+)?`?(\w+)`?",
                                   self.initsql, re.I))
        grants = re.findall(r"GRANT\s+.*?\s+ON\s+`?(\w+)`?\.\*\s+TO\s+'(\w+)'", self.initsql,
                            re.I | re.S)
        for mname, msvc in mysql.items():
            db = env_of(msvc).get("MYSQL_DATABASE")
            if db:
                databases.add(db)
            mounted = False
            for vol in msvc.get("volumes") or []:
                src = vol.split(":")[0] if isinstance(vol, str) else str(vol.get("source", ""))
                if src.startswith("."):
                    if not os.path.exists(os.path.join(self.docker_dir, src)):
                        self.bad("compose %s: mounts %s, which does not exist in docker/",
                                 mname, src)
                    elif "initdb" in (vol if isinstance(vol, str) else str(vol.get("target"))):
                        mounted = True
            if not mounted:
                self.bad("compose %s: docker/mysql-init.sql is not mounted into "
                         "/docker-entrypoint-initdb.d", mname)

        for name, svc in coffee.items():
            env = env_of(svc)
            args = argv.get(name, [])
            needs = set()
            role = roles.get(name)
            if name not in roles:
                continue
            store_keys = []
            if role in ("all", "order"):
                store_keys.append("store")
            if role in ("all", "display", "projector"):
                store_keys.append("display-store")
            urls = {}
            for key in ("store", "display-store"):
                urls[key] = self.setting(env, args, key) or ""
            if urls["store"] and urls["store"] == urls["display-store"]:
                self.bad("compose %s: command store and display store are the same database", name)
            for key in store_keys:
                url = urls[key]
                if not url.startswith("mysql://"):
                    self.bad("compose %s: --%s is %s; a scaled deployment needs mysql://",
                             name, key, url or "the SQLite default")
                    continue
                host, port, path = url_host_port(url)
                needs.add(host)
                if host not in mysql:
                    self.bad("compose %s: --%s host %s is not a mysql service", name, key, host)
                elif port != 3306:
                    self.bad("compose %s: --%s port %s, MySQL listens on 3306", name, key, port)
                db = path.strip("/")
                if db not in databases:
                    self.bad("compose %s: --%s database %s is not created (init SQL creates %s)",
                             name, key, db, ", ".join(sorted(databases)) or "none")
                user = env.get("COFFEE_MYSQL_USER")
                m = re.match(r"^mysql://([^:@/]+)", url)
                if "@" in url.split("/")[2] and m:
                    user = m.group(1)
                if host in mysql:
                    menv = env_of(mysql[host])
                    if user != menv.get("MYSQL_USER"):
                        self.bad("compose %s: logs in to MySQL as %s but the mysql service "
                                 "creates %s", name, user, menv.get("MYSQL_USER"))
                    if env.get("COFFEE_MYSQL_PASSWORD") != menv.get("MYSQL_PASSWORD"):
                        self.bad("compose %s: COFFEE_MYSQL_PASSWORD differs from the mysql "
                                 "service's MYSQL_PASSWORD", name)
                    if (db, user) not in grants and menv.get("MYSQL_DATABASE") != db:
                        self.bad("compose %s: init SQL grants %s nothing on %s", name, user, db)
            if self.setting(env, args, "bridge") == "kafka":
                brokers = self.setting(env, args, "kafka-brokers") or ""
                for b in filter(None, brokers.split(",")):
                    host, port = host_port(b.strip())
                    needs.add(host)
                    if host not in kafka:
                        self.bad("compose %s: Kafka broker %s is not a kafka service", name, b)
                        continue
                    adv = env_of(kafka[host]).get("KAFKA_ADVERTISED_LISTENERS", "")
                    if "//%s:%d" % (host, port) not in adv:
                        self.bad("compose %s: Kafka broker %s is not one %s advertises (%s)",
                                 name, b, host, adv)
                topic = self.setting(env, args, "kafka-topic")
                if not any(t == topic for _, t in topics):
                    self.bad("compose %s: topic %s is not created by a kafka-topics --create "
                             "service (creates: %s)", name, topic,
                             ", ".join(t for _, t in sorted(topics)) or "none")
                needs.update(n for n, _ in topics)
            if role in ("all", "order"):
                curl = self.setting(env, args, "collector-url") or ""
                if curl.startswith("http"):
                    host, port, _ = url_host_port(curl)
                    needs.add(host)
                    if host not in services:
                        self.bad("compose %s: collector host %s is not a service", name, host)
                    elif listen.get(host) != port:
                        self.bad("compose %s: collector URL port %s but %s listens on %s", name,
                                 port, host, listen.get(host))
            missing = needs - self.deps_closure(name) - {None}
            if missing:
                self.bad("compose %s: talks to %s but does not depend on it", name,
                         ", ".join(sorted(missing)))

        # depends_on conditions need something to wait for.
        for name, svc in services.items():
            d = svc.get("depends_on") or {}
            for target, spec in (d.items() if isinstance(d, dict) else ((t, {}) for t in d)):
                if target not in services:
                    self.bad("compose %s: depends on %s, which is not a service", name, target)
                    continue
                cond = (spec or {}).get("condition", "service_started")
                t = services[target]
                if cond == "service_healthy":
                    has = bool(t.get("healthcheck")) or (target in coffee and
                                                        self.image_has_healthcheck)
                    if not has:
                        self.bad("compose %s: waits for %s to be healthy, but it has no "
                                 "health check", name, target)
                if cond == "service_completed_successfully" and \
                        str(t.get("restart", "no")) not in ("no", "False", "false"):
                    self.bad("compose %s: waits for %s to complete, but it restarts (%s)", name,
                             target, t.get("restart"))

    def run(self):
        self.check_dockerfile()
        self.check_compose()
        return self.problems


# ---------------------------------------------------------------------------
#  Main and self-test

def load(source):
    docker = os.path.join(source, "docker")
    compose = yaml.safe_load(read(os.path.join(docker, "compose.yaml")))
    if not isinstance(compose, dict):
        raise SystemExit("docker_check: docker/compose.yaml is not a YAML mapping")
    return {
        "compose": compose,
        "dockerfile": read(os.path.join(docker, "Dockerfile")),
        "initsql": read(os.path.join(docker, "mysql-init.sql")),
        "deps": read(os.path.join(source, "scripts", "deps.sh")),
        "docker_dir": docker,
    }


def check(files, facts, build_pkgs, runtime_pkgs):
    return Checker(files["compose"], files["dockerfile"], files["initsql"], files["deps"], facts,
                   build_pkgs, runtime_pkgs, files["docker_dir"]).run()


def mutations():
    """(what it breaks, how) pairs the checks must catch. Each gets fresh copies."""
    def svc(f, name):
        return f["compose"]["services"][name]

    def env(f, name):
        return svc(f, name).setdefault("environment", {})

    def fact_rename(facts):
        facts["vars"].discard("COFFEE_PORT")
        facts["options"].pop("COFFEE_PORT", None)

    return [
        ("unknown variable", lambda f, h: env(f, "order-1").__setitem__("COFFEE_NO_SUCH", "1")),
        ("option renamed in coffee", lambda f, h: fact_rename(h)),
        ("bad role value", lambda f, h: env(f, "display-2").__setitem__("COFFEE_ROLE", "displays")),
        ("bad number", lambda f, h: env(f, "order-2").__setitem__("COFFEE_ORDER_ACTORS", "many")),
        ("published port drift", lambda f, h: svc(f, "order-2").__setitem__("ports", ["8082:8085"])),
        ("listen port drift", lambda f, h: env(f, "display-1").__setitem__("COFFEE_PORT", "8091")),
        ("host port twice", lambda f, h: svc(f, "display-2").__setitem__("ports", ["8081:8083"])),
        ("health check port", lambda f, h: svc(f, "order-1")["healthcheck"].__setitem__(
            "test", ["CMD", "curl", "-fsS", "http://127.0.0.1:8088/health"])),
        ("unknown subcommand", lambda f, h: svc(f, "collector").__setitem__(
            "entrypoint", ["coffee", "mock-collecter"])),
        ("unknown flag", lambda f, h: svc(f, "collector").__setitem__(
            "command", ["--port", "9000", "--bind", "0.0.0.0", "--fail-ratio", "0.1"])),
        ("collector port drift", lambda f, h: svc(f, "collector").__setitem__(
            "command", ["--port", "9001", "--bind", "0.0.0.0"])),
        ("topic drift", lambda f, h: svc(f, "kafka-init").__setitem__(
            "command", [w if w != "order-events" else "orders"
                        for w in svc(f, "kafka-init")["command"]])),
        ("broker drift", lambda f, h: env(f, "order-1").__setitem__("COFFEE_KAFKA_BROKERS",
                                                                    "kafka:29092")),
        ("database not created", lambda f, h: env(f, "display-1").__setitem__(
            "COFFEE_DISPLAY_STORE", "mysql://mysql:3306/displays")),
        ("same store twice", lambda f, h: env(f, "order-1").__setitem__(
            "COFFEE_DISPLAY_STORE", "mysql://mysql:3306/coffee")),
        ("missing dependency", lambda f, h: svc(f, "display-1").pop("depends_on", None)),
        ("one display only", lambda f, h: f["compose"]["services"].pop("display-2")),
        ("user drift", lambda f, h: env(f, "order-2").__setitem__("COFFEE_MYSQL_USER", "root")),
        ("entrypoint drift", lambda f, h: f.__setitem__("dockerfile", f["dockerfile"].replace(
            'ENTRYPOINT ["coffee", "serve"]', 'ENTRYPOINT ["coffee", "server"]'))),
        ("runtime lib missing", lambda f, h: f.__setitem__("dockerfile", re.sub(
            r"\blibcjson1\b", "", f["dockerfile"]))),
        ("build -dev missing", lambda f, h: f.__setitem__("dockerfile", re.sub(
            r"\blibczmq-dev\b", "", f["dockerfile"]))),
        ("root user", lambda f, h: f.__setitem__("dockerfile", re.sub(
            r"(?m)^USER .*$", "USER root", f["dockerfile"]))),
        ("expose drift", lambda f, h: f.__setitem__("dockerfile", re.sub(
            r"(?m)^EXPOSE .*$", "EXPOSE 9999", f["dockerfile"]))),
        ("deps.sh lost a package", lambda f, h: f.__setitem__("deps", f["deps"].replace(
            "libcurl4-openssl-dev", ""))),
        ("display database not granted", lambda f, h: f.__setitem__("initsql", re.sub(
            r"(?im)^GRANT .* ON display\..*$", "", f["initsql"]))),
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--coffee", required=True, help="the built coffee binary")
    ap.add_argument("--source", required=True, help="the repository root")
    ap.add_argument("--self-test", action="store_true",
                    help="break copies of the files on purpose; fail unless each break is caught")
    opts = ap.parse_args()

    facts = help_facts(opts.coffee)
    files = load(opts.source)
    problems = []
    build_pkgs, runtime_pkgs = {}, {}
    if have_dpkg():
        build_pkgs, p1 = build_packages(opts.source)
        runtime_pkgs, p2 = runtime_packages(opts.coffee)
        problems += p1 + p2
    else:
        print("docker_check: no dpkg here; package lists not checked")

    if not opts.self_test:
        problems += check(files, facts, build_pkgs, runtime_pkgs)
        for p in problems:
            print("PROBLEM " + p)
        print("docker_check: %d problem(s); checked %d services, %d image packages, "
              "%d variables known to coffee"
              % (len(problems), len((files["compose"].get("services") or {})),
                 len(runtime_pkgs) + len(build_pkgs), len(facts["vars"])))
        return 1 if problems else 0

    # Self-test: the real files must pass, and every break must be caught.
    base = check(files, facts, build_pkgs, runtime_pkgs) + problems
    if base:
        for p in base:
            print("PROBLEM (unbroken files) " + p)
        return 1
    missed = 0
    for what, mutate in mutations():
        f = copy.deepcopy(files)
        h = copy.deepcopy(facts)
        try:
            mutate(f, h)
        except (KeyError, TypeError, IndexError) as exc:
            print("SELFTEST %-28s could not apply (%r): the files changed shape" % (what, exc))
            missed += 1
            continue
        found = check(f, h, build_pkgs, runtime_pkgs)
        if found:
            print("SELFTEST %-28s caught: %s" % (what, found[0]))
        else:
            print("SELFTEST %-28s MISSED" % what)
            missed += 1
    print("docker_check self-test: %d of %d breaks caught" % (len(mutations()) - missed,
                                                            len(mutations())))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
