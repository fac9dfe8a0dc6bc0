"""The errors a learner can fix: each carries one sentence saying how (00_setup).

The command line turns these into one line and exit code 2; notebooks show the sentence.
"""

from __future__ import annotations

from helpers.config import ProfileError
from helpers.data import DataError
from helpers.models import ModelUnavailable


class SettingsError(ValueError):
    """A setting (widget value, argument) that cannot work; the message names the fix."""


USER_ERRORS: tuple[type[BaseException], ...] = (ProfileError, DataError, ModelUnavailable, SettingsError, OSError)
