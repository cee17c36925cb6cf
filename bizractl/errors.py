"""Errors bizractl reports to the user as a message, never as a traceback."""


class BizraError(Exception):
    """A user-facing error: the message says what is wrong and what is allowed."""


class BadInputError(BizraError):
    """The user asked for something that does not exist or is not valid."""


class LabError(BizraError):
    """The local lab could not be built, started or reached."""
