"""Configuration as code (docs/configuration.md): one YAML document for everything an admin
configures.

    result = validate_text(text, source="roster.yaml", base_dir=folder)
    if result.ok:
        config = result.config
    for problem in result.problems:   # errors and warnings, each with path, line, column, hint
        print(problem)

`dump_config` writes it back (stable, diff-friendly), `diff_configs` says what an import would
change, `to_document`/`from_document` store it in the database, and `section_versions` tells each
sync stage whether its part changed.
"""

from typing import TYPE_CHECKING

from engine.lazy import lazy_exports

# Where each name lives: imported on first use, so reading the stored configuration
# (engine.config.model, .document) does not import the validator and every connector.
_EXPORTS = {
    "ConfigChange": "engine.config.diff",
    "diff_configs": "engine.config.diff",
    "SECTIONS": "engine.config.document",
    "from_document": "engine.config.document",
    "section_versions": "engine.config.document",
    "to_document": "engine.config.document",
    "config_data": "engine.config.export",
    "dump_config": "engine.config.export",
    "DEFAULT_MERGE_RULES": "engine.config.model",
    "App": "engine.config.model",
    "Attribute": "engine.config.model",
    "DeletionThreshold": "engine.config.model",
    "Directory": "engine.config.model",
    "EntitlementRef": "engine.config.model",
    "FlowRule": "engine.config.model",
    "KeySpec": "engine.config.model",
    "Mapping": "engine.config.model",
    "MatchRule": "engine.config.model",
    "Ownership": "engine.config.model",
    "Provisioning": "engine.config.model",
    "PushRule": "engine.config.model",
    "RosterConfig": "engine.config.model",
    "Settings": "engine.config.model",
    "Source": "engine.config.model",
    "Targeting": "engine.config.model",
    "credential_kind": "engine.config.model",
    "is_secret_key": "engine.config.model",
    "ValidationResult": "engine.config.validate",
    "check_config": "engine.config.validate",
    "decode_config": "engine.config.validate",
    "read_config_file": "engine.config.validate",
    "validate_file": "engine.config.validate",
    "validate_text": "engine.config.validate",
}

__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)

if TYPE_CHECKING:  # the same names, for mypy and import-linter
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
