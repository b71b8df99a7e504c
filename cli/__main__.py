"""``python -m cli`` is ``crmhub``."""

from cli.main import app

app(prog_name="crmhub")
