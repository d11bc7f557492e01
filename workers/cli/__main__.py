"""`python -m workers.cli`: the same command line as the `remediation` console script."""

from workers.cli.main import app

if __name__ == "__main__":
    app()
