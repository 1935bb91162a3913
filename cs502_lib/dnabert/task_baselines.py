"""Older name of :mod:`.classifier_baselines` (kept for chapter 9, which imports it): the same module object."""

import sys

from . import classifier_baselines

sys.modules[__name__] = classifier_baselines
