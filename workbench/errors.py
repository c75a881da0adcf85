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


def user_stacklevel() -> int:
    """The `stacklevel` that makes a warning point at the first caller outside workbench/ and widgets/: the
    user's own line (`from_pretrained(...)` in a notebook cell), however deep in the library it was raised."""
    import os
    import sys

    ours = (os.path.dirname(os.path.abspath(__file__)) + os.sep,
            os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "widgets") + os.sep)
    frame, level = sys._getframe(1), 1  # level 1 = the function that calls warnings.warn
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(ours):
        frame, level = frame.f_back, level + 1
    return level
