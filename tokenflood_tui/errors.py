"""Errors a user can cause. Front ends print their message (no traceback) and exit with `exit_code`."""

from __future__ import annotations


class TokenfloodError(Exception):
    """Base of every user-facing error; the message says what to fix."""

    exit_code = 1


class ConfigError(TokenfloodError):
    """A config file or command-line value is invalid."""

    exit_code = 2


class BudgetRefused(TokenfloodError):
    """The run was not confirmed, or its estimate exceeds a limit."""

    exit_code = 3


class EndpointError(TokenfloodError):
    """The endpoint cannot serve the run (unreachable, 401, unknown model, context too small)."""

    exit_code = 1
