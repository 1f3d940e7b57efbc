"""`python -m jndtf.cli`."""

from jndtf.cli import app

app()
