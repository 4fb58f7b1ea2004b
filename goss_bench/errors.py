"""Exceptions raised by goss-bench library code.

Library code never prints or exits; it raises :class:`GossInputError` (a
``ValueError``) with one message that names the offending file and says what
was expected.  The CLI turns it into ``error: <message>`` and exit code 2; the
server turns it into a 4xx response carrying the same message.
"""

from __future__ import annotations


class GossInputError(ValueError):
    """Bad user input: a missing, corrupt or malformed file, or a bad option."""


class GossWarning(UserWarning):
    """Non-fatal problem with the input (for example extra prediction files)."""


class Terminated(KeyboardInterrupt):
    """Raised by the CLI's SIGTERM handler so that a terminated command cleans up as
    on Ctrl-C (partial results saved) and exits with 143 instead of 130."""
