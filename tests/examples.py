"""Transitional alias: the example payloads live in workers.examples."""

from workers.examples import *  # noqa: F403
