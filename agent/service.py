"""`headcount-agent install-service` / `uninstall-service`: the agent as a systemd service.

Install puts the unit (rendered so ExecStart= runs the headcount-agent of this environment), the udev
rule, the sysusers.d entry, a config skeleton and the secrets file (both only if absent: an operator's
config is never overwritten) and the model store variants (verified against their manifests) in
place, then reloads systemd and udev. `--root DIR` installs into a tree instead of `/` (images, tests)
and runs no commands; `--dry-run` prints the plan and changes nothing.

Uninstall stops and disables the unit and removes what install wrote outside /etc/headcount and
/var/lib/headcount; `--purge` removes those too (config, secrets, models, queue). The system user
stays: systemd never deletes sysusers.d users, their uid may still own files.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from agent import exit_codes

UNIT_NAME = "headcount-agent.service"
TEMPLATE_EXECUTABLE = "/usr/local/bin/headcount-agent"
"""The executable the unit template names; install replaces it with this environment's."""

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
SYSTEMD_SOURCES = PACKAGE_ROOT / "systemd"
DEFAULT_MODEL_SOURCE = PACKAGE_ROOT / "models"
HIDDEN_BY_PROTECT_HOME = (Path("/home"), Path("/root"), Path("/run/user"))


class ServiceError(Exception):
    """Installing or uninstalling cannot go on; the message names the file or command and the problem."""


@dataclass(frozen=True)
class Layout:
    """Where everything goes, below `root` (`/` for a real install)."""

    root: Path

    def at(self, absolute: str) -> Path:
        return self.root / absolute.lstrip("/")

    @property
    def unit(self) -> Path:
        return self.at(f"/etc/systemd/system/{UNIT_NAME}")

    @property
    def udev_rule(self) -> Path:
        return self.at("/etc/udev/rules.d/99-headcount-ncs.rules")

    @property
    def sysusers(self) -> Path:
        return self.at("/etc/sysusers.d/headcount.conf")

    @property
    def config_dir(self) -> Path:
        return self.at("/etc/headcount")

    @property
    def state_dir(self) -> Path:
        return self.at("/var/lib/headcount")

    @property
    def model_store(self) -> Path:
        return self.at("/var/lib/headcount/models")

    @property
    def cache_dir(self) -> Path:
        return self.at("/var/cache/headcount")


# ---- rendering --------------------------------------------------------------------------------------
def default_executable() -> Path:
    """`headcount-agent` beside this interpreter (the venv's bin dir; symlinks kept, they make the venv)."""
    return Path(sys.executable).absolute().parent / "headcount-agent"


def check_executable(executable: Path) -> None:
    if not executable.is_absolute():
        raise ServiceError(f"{executable}: ExecStart= needs an absolute path")
    for hidden in HIDDEN_BY_PROTECT_HOME:
        if executable == hidden or hidden in executable.parents:
            raise ServiceError(
                f"{executable}: lies under {hidden}, which the unit hides (ProtectHome=yes); install the agent's "
                "environment elsewhere, e.g. python3 -m venv /opt/headcount"
            )
    if not (executable.is_file() and os.access(executable, os.X_OK)):
        raise ServiceError(
            f"{executable}: no executable headcount-agent there; install the package into this environment "
            "(pip install .) or pass --executable"
        )


def unit_quote(path: Path) -> str:
    """`path` as one ExecStart= word: `%` escaped (specifiers), quoted if it holds spaces."""
    text = str(path).replace("%", "%%")
    if any(c in text for c in " \t\"'\\"):
        text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def render_unit(template: str, executable: Path) -> str:
    """The unit with ExecStart= pointing at `executable` instead of the template's placeholder."""
    prefix = f"ExecStart={TEMPLATE_EXECUTABLE} "
    if template.count(prefix) != 1:
        raise ServiceError(f"unit template: expected exactly one line starting {prefix!r}")
    return template.replace(prefix, f"ExecStart={unit_quote(executable)} ")


# ---- plan steps -------------------------------------------------------------------------------------
@dataclass
class Step:
    """One change: `describe()` says what it does (or would do), `apply()` does it."""

    verb: str
    target: str
    note: str = ""
    action: Callable[[], None] | None = field(default=None, repr=False)

    def describe(self, dry_run: bool) -> str:
        verb = f"would {self.verb}" if dry_run and self.action is not None else self.verb
        return f"{verb:<16} {self.target}" + (f"  ({self.note})" if self.note else "")


def write_step(path: Path, content: bytes, mode: int, overwrite: bool = True) -> Step:
    if path.exists():
        if not overwrite:
            return Step("keep", str(path), "exists; never overwritten")
        if path.read_bytes() == content and (path.stat().st_mode & 0o7777) == mode:
            return Step("unchanged", str(path))

    def apply() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(content)
        tmp.chmod(mode)
        tmp.replace(path)

    return Step("update" if path.exists() else "write", str(path), f"mode {mode:04o}", apply)


def mkdir_step(path: Path, mode: int) -> Step:
    if path.is_dir():
        return Step("unchanged", f"{path}/")

    def apply() -> None:
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(mode)

    return Step("mkdir", f"{path}/", f"mode {mode:04o}", apply)


def same_tree(a: Path, b: Path) -> bool:
    if not b.is_dir():
        return False
    names = sorted(p.name for p in a.iterdir() if p.is_file())
    if names != sorted(p.name for p in b.iterdir() if p.is_file()):
        return False
    return all(filecmp.cmp(a / n, b / n, shallow=False) for n in names)


def model_steps(source: Path, store: Path) -> list[Step]:
    """Copy every verified variant `<name>/<version>/` of the source store; identical ones stay as they are."""
    from models.store import ModelStore, ModelStoreError

    source_store = ModelStore(source)
    refs = source_store.refs()
    if not refs:
        raise ServiceError(f"{source}: no model variants (<name>/<version>/manifest.json); run `make model` first")
    steps = []
    for name, version in refs:
        try:
            variant = source_store.load(name, version, verify=True)
        except ModelStoreError as exc:
            raise ServiceError(f"not installing a broken model: {exc}") from None
        target = store / name / version
        if same_tree(variant.directory, target):
            steps.append(Step("unchanged", f"{target}/", f"model {name}@{version}"))
            continue
        steps.append(Step("replace" if target.exists() else "copy", f"{target}/", f"model {name}@{version}",
                          lambda src=variant.directory, dst=target: copy_variant(src, dst)))
    return steps


def default_model_steps(store: Path) -> list[Step]:
    """The checkout's own store, if `make model` filled it; otherwise say how to bring models."""
    from models.store import ModelStore

    if not ModelStore(DEFAULT_MODEL_SOURCE).refs():
        return [Step("skip", "models", f"no variants in {DEFAULT_MODEL_SOURCE}; pass --models DIR")]
    return model_steps(DEFAULT_MODEL_SOURCE, store)


def copy_variant(source: Path, target: Path) -> None:
    """Copy next to the target, then swap it in, so the agent never sees half a variant."""
    target.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(target.parent, 0o755)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        for item in source.iterdir():
            if item.is_file():
                shutil.copyfile(item, staging / item.name)
                (staging / item.name).chmod(0o644)
        staging.chmod(0o755)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def command_step(argv: list[str], live: bool, why: str) -> Step:
    if not live:
        return Step("skip", " ".join(argv), why)
    return Step("run", " ".join(argv), action=lambda: run_command(argv))


def run_command(argv: list[str]) -> None:
    if shutil.which(argv[0]) is None:
        raise ServiceError(f"{argv[0]}: not found (is systemd installed?)")
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ServiceError(f"`{' '.join(argv)}` failed ({result.returncode}): {result.stderr.strip()}")


# ---- plans ------------------------------------------------------------------------------------------
def install_plan(layout: Layout, executable: Path, model_source: Path | None = None,
                 enable: bool = False) -> list[Step]:
    """Every step of an install. `model_source` None: the checkout's store, if it holds any variant."""
    check_executable(executable)
    sources = {name: SYSTEMD_SOURCES / name for name in (
        UNIT_NAME, "99-headcount-ncs.rules", "headcount.sysusers.conf", "agent.toml.example",
        "headcount.env.example")}
    missing = [str(p) for p in sources.values() if not p.is_file()]
    if missing:
        raise ServiceError(f"packaging files missing: {', '.join(missing)}; run install-service from a checkout "
                           "of the repository installed with `pip install -e`")
    unit = render_unit(sources[UNIT_NAME].read_text(), executable)
    live = layout.root == Path("/")
    why = "not on this machine's / (--root)"
    steps = [
        write_step(layout.sysusers, sources["headcount.sysusers.conf"].read_bytes(), 0o644),
        command_step(["systemd-sysusers", str(layout.sysusers)], live, why),
        write_step(layout.unit, unit.encode(), 0o644),
        write_step(layout.udev_rule, sources["99-headcount-ncs.rules"].read_bytes(), 0o644),
        mkdir_step(layout.config_dir, 0o755),
        # Root-only: systemd hands the config to the agent as a credential (LoadCredential=), the secrets
        # as environment (EnvironmentFile=); camera URLs and broker passwords stay unreadable to others.
        write_step(layout.config_dir / "agent.toml", sources["agent.toml.example"].read_bytes(), 0o600,
                   overwrite=False),
        write_step(layout.config_dir / "headcount.env", sources["headcount.env.example"].read_bytes(), 0o600,
                   overwrite=False),
        mkdir_step(layout.state_dir, 0o750),
        mkdir_step(layout.model_store, 0o755),
        *(model_steps(model_source, layout.model_store) if model_source is not None
          else default_model_steps(layout.model_store)),
        command_step(["udevadm", "control", "--reload"], live, why),
        command_step(["udevadm", "trigger", "--action=add", "--subsystem-match=usb", "--attr-match=idVendor=03e7"],
                     live, why),
        command_step(["udevadm", "trigger", "--action=add", "--subsystem-match=powercap"], live, why),
        command_step(["systemctl", "daemon-reload"], live, why),
    ]
    if enable:
        steps.append(command_step(["systemctl", "enable", "--now", UNIT_NAME], live, why))
    return steps


def uninstall_plan(layout: Layout, purge: bool = False) -> list[Step]:
    live = layout.root == Path("/")
    why = "not on this machine's / (--root)"
    steps = [command_step(["systemctl", "disable", "--now", UNIT_NAME], live, why)]
    for path in (layout.unit, layout.udev_rule, layout.sysusers):
        steps.append(remove_step(path))
    if purge:
        for directory in (layout.config_dir, layout.state_dir, layout.at("/var/lib/private/headcount"),
                          layout.cache_dir):
            steps.append(remove_step(directory))
    else:
        for directory, what in ((layout.config_dir, "config and secrets"), (layout.state_dir, "models and queue")):
            if directory.exists():
                steps.append(Step("keep", f"{directory}/", f"{what}; --purge removes them"))
    steps += [command_step(["systemctl", "daemon-reload"], live, why),
              command_step(["udevadm", "control", "--reload"], live, why)]
    return steps


def remove_step(path: Path) -> Step:
    if not path.exists() and not path.is_symlink():
        return Step("absent", str(path))

    def apply() -> None:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()

    return Step("remove", str(path), action=apply)


def execute(steps: list[Step], dry_run: bool, out: Callable[[str], None]) -> int:
    """Print and apply each step. A failing command is reported and the rest still runs (exit 1)."""
    failures = 0
    for step in steps:
        out(step.describe(dry_run))
        if dry_run or step.action is None:
            continue
        try:
            step.action()
        except ServiceError as exc:
            failures += 1
            out(f"  error: {exc}")
        except OSError as exc:
            raise ServiceError(f"{step.target}: {exc}") from None
    return exit_codes.FAILURE if failures else exit_codes.OK


# ---- command line -----------------------------------------------------------------------------------
def cmd_install(args: argparse.Namespace) -> int:
    layout = Layout(Path(args.root))
    try:
        models = Path(args.models) if args.models else None
        steps = install_plan(layout, Path(args.executable), models, args.enable)
        code = execute(steps, args.dry_run, print)
    except ServiceError as exc:
        print(f"install-service: {exc}", file=sys.stderr)
        return exit_codes.FAILURE
    if not args.dry_run and not args.enable:
        print(f"next: edit {layout.config_dir / 'agent.toml'} (cameras, broker), then "
              f"`systemctl enable --now {UNIT_NAME}`")
    return code


def cmd_uninstall(args: argparse.Namespace) -> int:
    try:
        return execute(uninstall_plan(Layout(Path(args.root)), args.purge), args.dry_run, print)
    except ServiceError as exc:
        print(f"uninstall-service: {exc}", file=sys.stderr)
        return exit_codes.FAILURE


def register(sub: argparse._SubParsersAction) -> None:
    """Add `install-service` and `uninstall-service` to the CLI's subcommands."""
    install = sub.add_parser("install-service", help="install the systemd unit, udev rule, config skeleton, models")
    install.add_argument("--root", default="/", help="install below this directory instead of / (runs no commands)")
    install.add_argument("--dry-run", action="store_true", help="print what would be done; change nothing")
    install.add_argument("--executable", default=str(default_executable()),
                         help="headcount-agent for ExecStart= (default: the one beside this Python)")
    install.add_argument("--models", default=None,
                         help="model store whose variants are copied to /var/lib/headcount/models "
                              f"(default: {DEFAULT_MODEL_SOURCE}, if it holds any)")
    install.add_argument("--enable", action="store_true", help="also `systemctl enable --now` the unit")
    install.set_defaults(func=cmd_install)

    uninstall = sub.add_parser("uninstall-service", help="stop and remove the systemd unit and udev rule")
    uninstall.add_argument("--root", default="/", help="uninstall below this directory instead of /")
    uninstall.add_argument("--dry-run", action="store_true", help="print what would be done; change nothing")
    uninstall.add_argument("--purge", action="store_true",
                           help="also remove /etc/headcount and /var/lib/headcount (config, secrets, models, queue)")
    uninstall.set_defaults(func=cmd_uninstall)
