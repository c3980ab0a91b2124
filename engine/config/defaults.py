"""Defaults of the configuration that code outside the model needs without loading it
(engine.config.model builds pydantic models when imported: a tenth of a second)."""

# CEL budgets (settings.cel), generous: a typical expression spends tens of units, reading a
# long list of accounts with a comprehension a few thousand; ten million units is ~10 MB of
# text built by one evaluation.
DEFAULT_MAX_COST = 10_000_000
DEFAULT_MAX_SECONDS_PER_PREVIEW = 30.0
DEFAULT_MAX_SECONDS_PER_STAGE = 600.0
# ... and their bounds
MIN_MAX_COST = 1_000
MAX_SECONDS = 86_400
# the largest integer a store holds (SQL's BIGINT)
MAX_STORED_INT = 2**63 - 1
