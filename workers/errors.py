"""Failures a person can fix: the command line prints each as one line, without a traceback."""


class StartupError(Exception):
    """Something the operator must fix before the engine can start; the message says what."""
