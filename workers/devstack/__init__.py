"""The local stack of `remediation up`: embedded PostgreSQL, the Temporal dev server, the worker
and the codec server in one process tree (stack.py, dev_server.py, local_postgres.py,
child_process.py), and the demo incidents it seeds (demo.py) from the example payloads
(examples.py). Needs the `local` extra; the image never runs it.
"""
