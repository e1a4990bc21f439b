"""The one exception type for errors a user can cause (DESIGN.md, Conventions).

Raised at the boundary where input is checked; the CLI prints its message as one line on
stderr and exits non-zero. Library callers catch it like any other exception.
"""


class AdvlabError(Exception):
    """A problem with the user's input: bad config, wrong shape, missing or corrupt file."""
