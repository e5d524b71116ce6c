"""Errors of the policy layer."""

from __future__ import annotations


class PolicyError(Exception):
    """Base class of every error raised by `phalanx.policies`."""


class PolicyConfigError(PolicyError):
    """A policy file or option is invalid (names the file, the field and what to do)."""


class ScenarioDataError(PolicyError):
    """A ToolSword scenario file is malformed (names the file, the record index and the field)."""


class GuardError(PolicyError):
    """A guard could not reach a decision (the stack turns this into a fail-closed block)."""
