"""The one exception users see: bad input, reported as a single line and exit status 2."""

from __future__ import annotations


class UsageError(ValueError):
    """Bad input from the user (config, CLI, data). The CLI prints the message alone and exits 2."""


# Exit statuses of the `optflow` command (docs/guides/failures.md, "Exit statuses").
EXIT_OK = 0
EXIT_FAILURE = 1  # a bug, or a worker process that died before the budget was spent
EXIT_USAGE = 2  # bad input: nothing was created
EXIT_UNLOGGED = 3  # the study ran, but some trial runs could not be logged to MLflow
EXIT_NO_RESULT = 4  # the study ran, and no trial completed (each diverged, failed or was pruned) or met its constraints
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM, as a shell reports SIGINT
