"""The errors a learner can fix: each carries one sentence saying how (00_setup).

The command line turns these into one line and exit code 2; notebooks show the sentence.
This module imports nothing from ``helpers``, so every other module can import it at the top.
"""

from __future__ import annotations


class ProfileError(ValueError):
    """A profile name or setting that cannot be used; the message says how to fix it (00_setup)."""


class DataError(ValueError):
    """A data file that cannot be used at all; the message says what to fix in one line (01_data_quality)."""


class ModelUnavailable(RuntimeError):
    """A model that is neither offline nor cached; the message says how to get it (00_setup)."""


class SettingsError(ValueError):
    """A setting (widget value, argument) that cannot work; the message names the fix (03_qlora_training)."""


USER_ERRORS: tuple[type[BaseException], ...] = (ProfileError, DataError, ModelUnavailable, SettingsError, OSError)
