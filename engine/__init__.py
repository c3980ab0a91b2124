"""Roster engine: everything that is not drawing. Importing it has no side effects."""
