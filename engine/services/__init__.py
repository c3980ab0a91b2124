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
- changes: how a plan's changes are counted and shown (`plan_counts`, `changed_keys`)
"""

from engine.cel import NO_RECORD
from engine.changes import (
    CHANGED,
    VERBS,
    StagePlan,
    changed_keys,
    describe_stage_plan,
    plan_counts,
)
from engine.config.model import Mapping as PushMapping
from engine.config.model import PushRule, Targeting
from engine.connectors.base import SchemaField
from engine.preview import Comparison, OnePreview, PopulationPreview
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
from engine.services.impact import ImpactProgress, ListKind
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
from engine.services.push import PushExecutionRow, PushPlan, PushPlanItem, PushRules, ValueChange
from engine.services.push_editor import (
    EntitlementChoice,
    MappingPreview,
    PushChoices,
    PushTarget,
    TargetingImpact,
)
from engine.services.records import RecordRef
from engine.services.runs import (
    APPLIED_STATUSES,
    PLANNED_STATUSES,
    ChangeRow,
    ExternalWriteRow,
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
    "describe_stage_plan",
    "plan_counts",
    "Comparison",
    "FieldCheck",
    "FieldResult",
    "OnePreview",
    "PopulationPreview",
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
