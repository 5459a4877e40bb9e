"""The one exception type users see: it names the file, record or key at fault and the fix."""


class SeqtuneError(Exception):
    """A problem with the user's input, config or files, described so that the user can fix it.

    The command line prints the message without a traceback and exits with status 2.
    """
