"""Test-wide settings: Hypothesis profiles.

``dev`` (default): no deadline (a loaded 2-core machine must not turn slow
examples into failures), random seeds. ``ci`` (loaded when CI=true): the same
with more examples. HYPOTHESIS_PROFILE overrides the choice.
"""

import os

from hypothesis import settings

settings.register_profile("dev", deadline=None, derandomize=False)
settings.register_profile("ci", settings.get_profile("dev"), max_examples=500, print_blob=True)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") == "true" else "dev")
)
