"""Errors a user can act on: each message names the problem and the fix."""

from __future__ import annotations


class WorkbenchError(Exception):
    """Base class for every error the workbench raises on purpose."""


class CheckpointNotFoundError(WorkbenchError, FileNotFoundError):
    """A model name or folder that does not lead to a usable checkpoint."""


class OfflineError(CheckpointNotFoundError):
    """A hub id was asked for while the hub is unreachable or offline mode is on."""


class UnsupportedModelError(WorkbenchError, ValueError):
    """A checkpoint whose `model_type` (or head) this workbench does not implement."""


class WeightsError(WorkbenchError):
    """Weight files that are missing, corrupt, unsafe, or do not fit the model."""


class IntegrityError(WeightsError):
    """An embedded file whose SHA-256 does not match the value recorded in our code."""


class InputError(WorkbenchError, ValueError):
    """User input (text, audio, options) that a model or pipeline cannot take."""


class ConfigError(WorkbenchError, ValueError):
    """A config value no model can be built from (zero sizes, heads that do not divide the width)."""
