"""`python -m cli` runs `mc`."""

from cli.main import app

app(prog_name="mc")
