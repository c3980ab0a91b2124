"""The engine facade (`Services`) and the results it returns, by area:

- records: finding people and accounts (`RecordRef`)
- previews: CEL against one record or everyone, compared with a saved rule
- configuration: export, validate, import
- editing: one object by its path (`ConfigEdit` -> `EditResult`), the audit (`AuditEntry`)
- people: a person's detail, why an attribute has its value, links and pins
- runs: syncs, the run history and journals
- push: push rules, their plan and history; the push-rule editor's choices and previews
- provisioning: one account for one person, the access-request queue
- dashboard: the overview
- apps: testing an app's connection (`AppTest`)
- impact: an edited configuration's effect on people and owners, the match matrix
- attributes: the fields an app's stored accounts have (`AppFields`), for direct sources
- changes: how a plan's changes are counted and shown (`plan_counts`, `changed_keys`,
  `change_differences`, `deletion_lines`)
"""

from typing import TYPE_CHECKING

from engine.lazy import lazy_exports

# Where each name lives: imported on first use, so `from engine.services import open_services`
# (the CLI) does not import the sync pipeline, the connectors or every area's module.
_EXPORTS = {
    "NO_RECORD": "engine.cel",
    "CHANGED": "engine.changes",
    "VERBS": "engine.changes",
    "StagePlan": "engine.changes",
    "changed_keys": "engine.changes",
    "change_differences": "engine.changes",
    "deletion_lines": "engine.changes",
    "describe_stage_plan": "engine.changes",
    "describe_counts": "engine.changes",
    "plan_counts": "engine.changes",
    "PushMapping": "engine.config.model:Mapping",
    "PushRule": "engine.config.model",
    "Targeting": "engine.config.model",
    "SchemaField": "engine.connectors.base",
    "Comparison": "engine.preview",
    "OnePreview": "engine.preview",
    "PopulationPreview": "engine.preview",
    "format_number": "engine.preview",
    "summary_label": "engine.preview",
    "FieldCheck": "engine.provision",
    "FieldResult": "engine.provision",
    "ProvisionPlan": "engine.provision",
    "ProvisionRefused": "engine.provision",
    "ProvisionResult": "engine.provision",
    "AppTest": "engine.services.apps",
    "AppFields": "engine.services.attributes",
    "FieldInfo": "engine.services.attributes",
    "ConfigImportResult": "engine.services.configuration",
    "ServiceContext": "engine.services.context",
    "AppSummary": "engine.services.dashboard",
    "Dashboard": "engine.services.dashboard",
    "AuditEntry": "engine.services.editing",
    "ConfigEdit": "engine.services.editing",
    "EditResult": "engine.services.editing",
    "Services": "engine.services.facade",
    "open_services": "engine.services.facade",
    "ImpactProgress": "engine.services.impact",
    "LinkImpact": "engine.services.impact",
    "ListKind": "engine.services.impact",
    "AttributeRow": "engine.services.people",
    "Explanation": "engine.services.people",
    "LinkedAccount": "engine.services.people",
    "LinkResult": "engine.services.people",
    "UserDetail": "engine.services.people",
    "Completions": "engine.services.previews",
    "SavedExpression": "engine.services.previews",
    "ProvisioningApp": "engine.services.provisioning",
    "ProvisioningTarget": "engine.services.provisioning",
    "ProvisionQueue": "engine.services.provisioning",
    "QueuedAccount": "engine.services.provisioning",
    "PushExecutionRow": "engine.services.push",
    "PushPlan": "engine.services.push",
    "PushPlanItem": "engine.services.push",
    "PushRules": "engine.services.push",
    "ValueChange": "engine.services.push",
    "EntitlementChoice": "engine.services.push_editor",
    "MappingPreview": "engine.services.push_editor",
    "PushChoices": "engine.services.push_editor",
    "PushTarget": "engine.services.push_editor",
    "TargetingImpact": "engine.services.push_editor",
    "RecordRef": "engine.services.records",
    "PersonRow": "engine.services.records",
    "APPLIED_STATUSES": "engine.services.runs",
    "PLANNED_STATUSES": "engine.services.runs",
    "ChangeRow": "engine.services.runs",
    "JournalObject": "engine.services.runs",
    "JournalReading": "engine.services.runs",
    "JournalStage": "engine.services.runs",
    "ExternalWriteRow": "engine.services.runs",
    "RunSummary": "engine.services.runs",
    "AttributeChange": "engine.services.values",
    "AttributeOutcome": "engine.services.values",
    "PushDifference": "engine.services.values",
    "PushWrite": "engine.services.values",
    "SourceError": "engine.services.values",
    "ValueImpact": "engine.services.values",
    "default_db_path": "engine.store.db",
    "DirectoryMatrix": "engine.sync.matrix",
    "MatchMatrix": "engine.sync.matrix",
    "MatrixListing": "engine.sync.matrix",
    "MatrixRow": "engine.sync.matrix",
    "OwnershipCounts": "engine.sync.matrix",
    "RuleCounts": "engine.sync.matrix",
    "IdentityImpact": "engine.sync.simulate",
}

__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)

if TYPE_CHECKING:  # the same names, for mypy and import-linter
    from engine.cel import NO_RECORD
    from engine.changes import (
        CHANGED,
        VERBS,
        StagePlan,
        change_differences,
        changed_keys,
        deletion_lines,
        describe_counts,
        describe_stage_plan,
        plan_counts,
    )
    from engine.config.model import Mapping as PushMapping
    from engine.config.model import PushRule, Targeting
    from engine.connectors.base import SchemaField
    from engine.preview import (
        Comparison,
        OnePreview,
        PopulationPreview,
        format_number,
        summary_label,
    )
    from engine.provision import (
        FieldCheck,
        FieldResult,
        ProvisionPlan,
        ProvisionRefused,
        ProvisionResult,
    )
    from engine.services.apps import AppTest
    from engine.services.attributes import AppFields, FieldInfo
    from engine.services.configuration import ConfigImportResult
    from engine.services.context import ServiceContext
    from engine.services.dashboard import AppSummary, Dashboard
    from engine.services.editing import AuditEntry, ConfigEdit, EditResult
    from engine.services.facade import Services, open_services
    from engine.services.impact import ImpactProgress, LinkImpact, ListKind
    from engine.services.people import (
        AttributeRow,
        Explanation,
        LinkedAccount,
        LinkResult,
        UserDetail,
    )
    from engine.services.previews import Completions, SavedExpression
    from engine.services.provisioning import (
        ProvisioningApp,
        ProvisioningTarget,
        ProvisionQueue,
        QueuedAccount,
    )
    from engine.services.push import (
        PushExecutionRow,
        PushPlan,
        PushPlanItem,
        PushRules,
        ValueChange,
    )
    from engine.services.push_editor import (
        EntitlementChoice,
        MappingPreview,
        PushChoices,
        PushTarget,
        TargetingImpact,
    )
    from engine.services.records import PersonRow, RecordRef
    from engine.services.runs import (
        APPLIED_STATUSES,
        PLANNED_STATUSES,
        ChangeRow,
        ExternalWriteRow,
        JournalObject,
        JournalReading,
        JournalStage,
        RunSummary,
    )
    from engine.services.values import (
        AttributeChange,
        AttributeOutcome,
        PushDifference,
        PushWrite,
        SourceError,
        ValueImpact,
    )
    from engine.store.db import default_db_path
    from engine.sync.matrix import (
        DirectoryMatrix,
        MatchMatrix,
        MatrixListing,
        MatrixRow,
        OwnershipCounts,
        RuleCounts,
    )
    from engine.sync.simulate import IdentityImpact

__all__ = [
    "NO_RECORD",
    "AppFields",
    "FieldInfo",
    "AttributeChange",
    "AttributeOutcome",
    "PushDifference",
    "PushWrite",
    "SourceError",
    "ValueImpact",
    "APPLIED_STATUSES",
    "PLANNED_STATUSES",
    "PushMapping",
    "PushRule",
    "Targeting",
    "CHANGED",
    "VERBS",
    "StagePlan",
    "changed_keys",
    "change_differences",
    "deletion_lines",
    "describe_stage_plan",
    "describe_counts",
    "plan_counts",
    "Comparison",
    "FieldCheck",
    "FieldResult",
    "OnePreview",
    "PopulationPreview",
    "format_number",
    "summary_label",
    "ProvisionPlan",
    "ProvisionRefused",
    "ProvisionResult",
    "AppSummary",
    "AppTest",
    "AuditEntry",
    "ConfigEdit",
    "EditResult",
    "AttributeRow",
    "ChangeRow",
    "JournalObject",
    "JournalReading",
    "JournalStage",
    "ExternalWriteRow",
    "Completions",
    "ConfigImportResult",
    "Dashboard",
    "Explanation",
    "LinkResult",
    "LinkedAccount",
    "ProvisionQueue",
    "ProvisioningApp",
    "ProvisioningTarget",
    "PushExecutionRow",
    "PushPlan",
    "PushPlanItem",
    "PushRules",
    "QueuedAccount",
    "RecordRef",
    "PersonRow",
    "RunSummary",
    "SavedExpression",
    "UserDetail",
    "ServiceContext",
    "Services",
    "ValueChange",
    "default_db_path",
    "DirectoryMatrix",
    "IdentityImpact",
    "ImpactProgress",
    "LinkImpact",
    "ListKind",
    "MatchMatrix",
    "MatrixListing",
    "MatrixRow",
    "OwnershipCounts",
    "RuleCounts",
    "open_services",
    "EntitlementChoice",
    "MappingPreview",
    "PushChoices",
    "PushTarget",
    "SchemaField",
    "TargetingImpact",
]
