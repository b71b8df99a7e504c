"""The operators' web console: the static files of ``console/`` at ``GET /console/``.

The files are found beside the package in a checkout (``<repo>/console``, what the local
runtime serves) or in the function's own artefact (``/var/task/console``: the API
function's Makefile copies the folder there; Lambda runs handlers with that directory as
the working directory). Only files that exist directly in that folder are served, looked up
by name in its listing, so no request path can reach anything outside it.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from crmhub.errors import NotFound

router = APIGatewayRouter()

INDEX = "index.html"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}
# The page is the entry point: always revalidate it so a deploy shows at once; the assets
# it loads have no content hash (no build step), so they are only cached briefly.
CACHE_CONTROL = {".html": "no-cache"}
ASSET_CACHE_CONTROL = "public, max-age=300"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self' https: http:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
}


def console_dir(candidates: list[Path] | None = None) -> Path | None:
    """The first folder holding the console's ``index.html`` (None when not deployed)."""
    if candidates is None:
        candidates = [Path(__file__).resolve().parents[3] / "console", Path.cwd() / "console"]
    return next((path for path in candidates if (path / INDEX).is_file()), None)


def console_file(name: str, root: Path | None = None) -> Path:
    """The console file called ``name`` (a bare file name of the folder), else NotFound."""
    root = root if root is not None else console_dir()
    name = unquote(name)
    if root is not None and name and Path(name).suffix in CONTENT_TYPES:
        served = {entry.name: entry for entry in root.iterdir() if entry.is_file()}
        if name in served:
            return served[name]
    raise NotFound("no such console file", details={"file": name[:100]})


def file_response(path: Path) -> Response[str]:
    """The file with its content type, caching and security headers."""
    suffix = path.suffix
    return Response(
        status_code=200,
        content_type=CONTENT_TYPES[suffix],
        body=path.read_text(encoding="utf-8"),
        headers={"Cache-Control": CACHE_CONTROL.get(suffix, ASSET_CACHE_CONTROL), **SECURITY_HEADERS},
    )


@router.get("/console", include_in_schema=False)
def console_index() -> Response[str]:
    """The console's page; ``/console`` redirects to ``/console/`` so relative asset URLs work."""
    if not router.current_event.path.endswith("/"):
        # Relative on purpose: behind API Gateway the public path carries the stage prefix.
        return Response(status_code=301, body="", headers={"Location": "console/", "Cache-Control": "no-cache"})
    return file_response(console_file(INDEX))


@router.get("/console/<name>", include_in_schema=False)
def console_asset(name: str) -> Response[str]:
    """One of the console's files (``index.html``, ``app.js``, ``app.css``)."""
    return file_response(console_file(name))
