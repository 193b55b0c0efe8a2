"""The plug-in contract of a distillation method.

A method is one folder, ``cmoe/methods/<package>/``, whose ``__init__.py`` defines ``METHOD``, a
:class:`Method`. What the folder holds is found by name, so adding a method is that folder plus
one line in :data:`cmoe.methods.PACKAGES`:

- ``plan.py`` (required): ``plan(builder)`` registers the method's jobs, rows and comparisons
  through the :class:`~cmoe.core.planning.Builder` protocol (``PlanBuilder`` implements it);
- ``checks.py`` (optional): ``check(config)``, cheap checks run on every parse of a config that
  lists the method, and ``preflight(config)``, run before the first job of a real run (may load
  tokenizers or reach servers); both raise :class:`~cmoe.core.errors.ConfigError`;
- ``settings.py`` (optional): ``SECTIONS``, {config section: its settings class}, for the sections
  the method owns; a class declared with :func:`cmoe.core.settings.setting` is the section's one
  declaration (its JSON schema, defaults and config/README.md table are generated from it); and
  ``NAMED_SECTIONS``, its sections of named entries (a name is a level of output paths, and an
  overlay removes an entry by setting it to null); and ``ENTRY_FIELDS``, {section of named
  entries: settings class}, the keys it adds to each entry of a core section (`intermediates`);
- ``schema.yaml`` (optional): the JSON schema of the method's sections not yet declared that way,
  merged into the config's schema (its `$defs`, generated from the settings classes by
  :mod:`cmoe.config.schema`, may be referenced);
- ``rules.smk`` (optional): the Snakemake rules of the method's own job kinds, reading their jobs
  with ``PLAN.jobs_of(kind)``;
- ``commands.py`` (optional): the `cmoe` subcommands those rules call, registered with
  :func:`cmoe.core.commands.command`.

Nothing is imported until it is needed: the registry costs no heavy import.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module, resources
from importlib.util import find_spec
from pathlib import Path

from ..core.errors import ConfigError
from ..core.planning import Builder


@dataclass(frozen=True)
class Method:
    name: str  # its value in the config's `methods` (and the first label of its rows)
    package: str  # the folder's module (``__name__`` in its ``__init__.py``)
    # it has the intermediates generate traces (their generation backends are then checked)
    intermediates_generate: bool = False
    # packages whose rules, subcommands and schema it shares with other methods (not methods
    # themselves), e.g. the KD methods' teacher scoring
    uses: tuple[str, ...] = ()

    def plan(self, builder: Builder) -> None:
        import_module(f"{self.package}.plan").plan(builder)

    def _checks(self):
        return import_module(f"{self.package}.checks") if self._has("checks") else None

    def check(self, config: dict) -> None:
        checks = self._checks()
        if checks is not None and hasattr(checks, "check"):
            checks.check(config)

    def preflight(self, config: dict) -> None:
        checks = self._checks()
        if checks is not None and hasattr(checks, "preflight"):
            checks.preflight(config)

    @property
    def packages(self) -> tuple[str, ...]:
        return (*self.uses, self.package)

    def load_commands(self) -> None:
        for package in self.packages:
            if find_spec(f"{package}.commands") is not None:
                import_module(f"{package}.commands")

    @property
    def sections(self) -> dict[str, type]:
        """{config section: settings class} of the sections its packages own."""
        out: dict[str, type] = {}
        for package in self.packages:
            if find_spec(f"{package}.settings") is not None:
                out.update(getattr(import_module(f"{package}.settings"), "SECTIONS", {}))
        return out

    @property
    def named_sections(self) -> tuple[str, ...]:
        """The config sections of named entries its packages own (``NAMED_SECTIONS``)."""
        out: list[str] = []
        for package in self.packages:
            if find_spec(f"{package}.settings") is not None:
                out += getattr(import_module(f"{package}.settings"), "NAMED_SECTIONS", ())
        return tuple(out)

    @property
    def entry_fields(self) -> dict[str, type]:
        """{section of named entries: settings class of the fields its packages add to each
        entry} (``ENTRY_FIELDS``, e.g. the specialists' overrides in an `intermediates` entry)."""
        out: dict[str, type] = {}
        for package in self.packages:
            if find_spec(f"{package}.settings") is not None:
                out.update(getattr(import_module(f"{package}.settings"), "ENTRY_FIELDS", {}))
        return out

    @property
    def rules(self) -> list[Path]:
        return self._files("rules.smk")

    @property
    def schemas(self) -> list[Path]:
        return self._files("schema.yaml")

    def _has(self, module: str) -> bool:
        return find_spec(f"{self.package}.{module}") is not None

    def _files(self, name: str) -> list[Path]:
        found = (Path(str(resources.files(p).joinpath(name))) for p in self.packages)
        return [path for path in found if path.is_file()]


def require_intermediates(config: dict, method: str) -> None:
    """A method that trains intermediates (a generalist, specialists) needs at least one."""
    if not config.get("intermediates"):
        raise ConfigError(f"required by method {method}", key="intermediates")
