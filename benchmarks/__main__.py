"""`python -m benchmarks`: what `make bench` runs (options: `python -m benchmarks --help`)."""

import typer

from benchmarks.command import benchmark

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)
app.command(name="benchmark")(benchmark)

if __name__ == "__main__":
    app(prog_name="python -m benchmarks")
