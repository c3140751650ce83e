"""The one exception a user mistake raises: a bad argument, file, folder or checkpoint.

Any module may raise `UserError` (or a subclass) with a message that names the file or parameter
and says what to do; ``python -m colorlib`` prints that one line, without a traceback, and exits
with status 2. Faults in colorlib itself stay ordinary exceptions, with their tracebacks.
"""

from __future__ import annotations

# Exit status for a user mistake, as argparse uses for a bad command line.
USAGE_EXIT = 2


class UserError(Exception):
    """A mistake the user can fix; its message is the whole report (one line)."""
