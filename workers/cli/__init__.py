"""`remediation`: the command line of the remediation engine (the console script `workers.cli:app`).

workers/cli/main.py holds the app and the incident, worker and register commands; each other
module here holds one group of commands (audit, codec and keys, export, lessons, report,
schedules) and support.py what they share.
"""

from workers.cli.main import app

__all__ = ["app"]
