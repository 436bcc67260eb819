"""The one exception users see: bad input, reported as a single line and exit status 2."""

from __future__ import annotations


class UsageError(ValueError):
    """Bad input from the user (config, CLI, data). The CLI prints the message alone and exits 2."""


EXIT_USAGE = 2  # bad input
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM, as a shell reports SIGINT
