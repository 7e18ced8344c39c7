"""`tq.versions(name).version("v1", workflow)...`: the versions of one workflow."""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, replace

from tasquencer.api.facade import WorkflowApi
from tasquencer.builder.migration import MigrationBuilder
from tasquencer.builder.names import element_name
from tasquencer.builder.workflow import WorkflowBuilder
from tasquencer.engine.definitions import (
    CompiledVersion,
    MigrationDef,
    fingerprint,
    shape_differences,
    version_shape,
)
from tasquencer.errors import (
    DuplicateVersionError,
    UnknownVersionError,
    VersionConflictError,
    WorkflowDefinitionError,
    describe,
)
from tasquencer.runtime.calls import Runtime
from tasquencer.runtime.transaction import Transaction
from tasquencer.store import statements as st


@dataclass(frozen=True, slots=True)
class VersionsBuilder:
    """The versions of one workflow, in order, and which of them are deprecated."""

    name: str
    versions: tuple[tuple[str, WorkflowBuilder], ...] = ()
    deprecated: tuple[str, ...] = ()
    migrations: tuple[tuple[str, MigrationBuilder], ...] = ()

    def version(self, name: str, workflow: WorkflowBuilder) -> VersionsBuilder:
        element_name(name, "version")
        if not isinstance(workflow, WorkflowBuilder):
            raise TypeError(f"version {name!r} needs a workflow: Builder.workflow(...)")
        return replace(self, versions=(*self.versions, (name, workflow)))

    def with_migration(self, name: str, migration: MigrationBuilder) -> VersionsBuilder:
        """How instances move from one version to the next: `name` is `"v1->v2"`, and
        `migration` is `tq.migrate(v1_workflow, v2_workflow)...`."""
        if not isinstance(migration, MigrationBuilder):
            raise TypeError(
                f"with_migration({name!r}, ...) expects tq.migrate(source, target), got "
                f"{describe(migration)}"
            )
        if not isinstance(name, str) or name.count("->") != 1:
            raise ValueError(f"a migration is named '<from>-><to>', got {describe(name)}")
        return replace(self, migrations=(*self.migrations, (name, migration)))

    def deprecate(self, *names: str) -> VersionsBuilder:
        """Deprecated versions keep running their instances but start no new ones."""
        return replace(self, deprecated=(*self.deprecated, *names))


def versions(name: str) -> VersionsBuilder:
    return VersionsBuilder(element_name(name, "workflow"))


class WorkflowVersions:
    """What `app.register` returns: the compiled versions, each with its API."""

    def __init__(self, runtime: Runtime, name: str, compiled: dict[str, CompiledVersion]) -> None:
        self._runtime = runtime
        self.name = name
        self.compiled = compiled
        self._apis: dict[str, WorkflowApi] = {}

    @property
    def version_names(self) -> list[str]:
        return list(self.compiled)

    @property
    def active_versions(self) -> list[str]:
        return [v for v, c in self.compiled.items() if not c.deprecated]

    @property
    def deprecated_versions(self) -> list[str]:
        return [v for v, c in self.compiled.items() if c.deprecated]

    def api(self, version: str | None = None) -> WorkflowApi:
        """The API of one version (the latest when no version is given)."""
        name = self._version_name(version)
        if name not in self._apis:
            self._apis[name] = WorkflowApi(self._runtime, self.compiled[name])
        return self._apis[name]

    def version(self, version: str | None = None) -> CompiledVersion:
        """The compiled definitions of one version (the latest when no version is given)."""
        return self.compiled[self._version_name(version)]

    def _version_name(self, version: str | None) -> str:
        name = version if version is not None else list(self.compiled)[-1]
        if name not in self.compiled:
            raise UnknownVersionError(
                f"workflow {self.name!r} has no version {name!r}; it has "
                + ", ".join(map(repr, self.compiled))
            )
        return name


def register_versions(
    given: VersionsBuilder | WorkflowBuilder, runtime: Runtime, registered: Container[str]
) -> WorkflowVersions:
    builder = (
        versions(given.name).version("v1", given) if isinstance(given, WorkflowBuilder) else given
    )
    if not isinstance(builder, VersionsBuilder):
        raise TypeError("app.register expects tq.versions(name).version(...) or a workflow")
    if not builder.versions:
        raise WorkflowDefinitionError(f"workflow {builder.name!r} has no versions to register")
    if builder.name in registered:
        raise DuplicateVersionError(f"workflow {builder.name!r} is already registered")
    compiled: dict[str, CompiledVersion] = {}
    for version_name, workflow in builder.versions:
        if version_name in compiled:
            raise DuplicateVersionError(
                f"workflow {builder.name!r}: version {version_name!r} is registered twice"
            )
        if workflow.name != builder.name:
            raise WorkflowDefinitionError(
                f"version {version_name!r} of {builder.name!r} is a workflow named "
                f"{workflow.name!r}; every version must keep the name {builder.name!r}"
            )
        compiled[version_name] = CompiledVersion(builder.name, version_name, workflow)
    _attach_migrations(builder, compiled)
    _record_shapes(runtime, builder.name, compiled)
    for name in builder.deprecated:
        if name not in compiled:
            raise UnknownVersionError(
                f"cannot deprecate version {name!r} of {builder.name!r}: it is not registered"
            )
        compiled[name].deprecated = True
    return WorkflowVersions(runtime, builder.name, compiled)


def _attach_migrations(builder: VersionsBuilder, compiled: dict[str, CompiledVersion]) -> None:
    """Each migration goes from a version to the very next one, between their definitions."""
    order = list(compiled)
    for name, migration in builder.migrations:
        source, _, target = name.partition("->")
        for version in (source, target):
            if version not in compiled:
                raise UnknownVersionError(
                    f"migration {name!r} of {builder.name!r}: there is no version {version!r}"
                )
        if order.index(target) != order.index(source) + 1:
            raise WorkflowDefinitionError(
                f"migration {name!r} of {builder.name!r}: a migration goes from a version to "
                f"the next one registered (after {source!r} comes "
                + (repr(order[order.index(source) + 1]) if source != order[-1] else "none")
                + ")"
            )
        target_version = compiled[target]
        if target_version.migration is not None:
            raise DuplicateVersionError(
                f"workflow {builder.name!r}: migration {name!r} is declared twice"
            )
        if migration.source != compiled[source].builder or (
            migration.target != target_version.builder
        ):
            raise WorkflowDefinitionError(
                f"migration {name!r} of {builder.name!r} was made with tq.migrate(...) of "
                f"other definitions than versions {source!r} and {target!r}"
            )
        target_version.attach_migration(MigrationDef(name, source, migration))


def _record_shapes(
    runtime: Runtime, workflow_name: str, compiled: dict[str, CompiledVersion]
) -> None:
    """Store each version's fingerprint on first registration; refuse a version whose
    structure differs from the one already stored under the same name."""

    def record(tx: Transaction) -> None:
        db, dialect = tx.db, tx.db.dialect
        for version_name, version in compiled.items():
            shape = version_shape(version)
            key = {"workflow_name": workflow_name, "version_name": version_name}
            found = db.one(st.SELECT_VERSION, key)
            if found is None:
                row = {
                    **key,
                    "fingerprint": fingerprint(shape),
                    "shape": dialect.json_in(shape),
                    "registered_at": dialect.time_in(tx.now()),
                }
                db.run(st.SAVE_VERSION, row)
                found = db.one(st.SELECT_VERSION, key)  # another process may have been first
            assert found is not None
            stored_fingerprint, stored_shape = found
            if stored_fingerprint != fingerprint(shape):
                differences = shape_differences(dialect.json_out(stored_shape), shape)
                raise VersionConflictError(
                    f"version {version_name!r} of workflow {workflow_name!r} is already "
                    "registered on this database with a different structure; register the "
                    "change as a new version (and migrate running instances to it). "
                    "Differences: " + "; ".join(differences[:10])
                )

    runtime.runner.run(record)
