"""Configuration as code (DESIGN §8): one YAML document for everything an admin configures.

    result = validate_text(text, source="roster.yaml", base_dir=folder)
    if result.ok:
        config = result.config
    for problem in result.problems:   # errors and warnings, each with path, line, column, hint
        print(problem)

`dump_config` writes it back (stable, diff-friendly), `diff_configs` says what an import would
change, `to_document`/`from_document` store it in the database, and `section_versions` tells each
sync stage whether its part changed.
"""

from engine.config.diff import ConfigChange, diff_configs
from engine.config.document import SECTIONS, from_document, section_versions, to_document
from engine.config.export import config_data, dump_config
from engine.config.model import (
    DEFAULT_MERGE_RULES,
    App,
    Attribute,
    DeletionThreshold,
    Directory,
    EntitlementRef,
    FlowRule,
    KeySpec,
    Mapping,
    MatchRule,
    Ownership,
    Provisioning,
    PushRule,
    RosterConfig,
    Settings,
    Source,
    Targeting,
    credential_kind,
    is_secret_key,
)
from engine.config.validate import (
    ValidationResult,
    check_config,
    decode_config,
    read_config_file,
    validate_file,
    validate_text,
)

__all__ = [
    "DEFAULT_MERGE_RULES",
    "SECTIONS",
    "App",
    "Attribute",
    "ConfigChange",
    "DeletionThreshold",
    "Directory",
    "EntitlementRef",
    "FlowRule",
    "KeySpec",
    "Mapping",
    "MatchRule",
    "Ownership",
    "Provisioning",
    "PushRule",
    "RosterConfig",
    "Settings",
    "Source",
    "Targeting",
    "ValidationResult",
    "check_config",
    "config_data",
    "decode_config",
    "diff_configs",
    "dump_config",
    "from_document",
    "credential_kind",
    "is_secret_key",
    "read_config_file",
    "section_versions",
    "to_document",
    "validate_file",
    "validate_text",
]
