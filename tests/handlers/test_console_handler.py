"""API function: the web console's static files (GET /console, /console/{proxy+})."""

import json

import pytest

from support import ROOT, load_event

CONSOLE = ROOT / "console"


@pytest.fixture
def api(aws, cold_start):
    return cold_start("api")


def get(api, context, path):
    """A GET through the API function, shaped as API Gateway sends it (stage "dev")."""
    event = load_event("api_health.json")
    proxy = path.removeprefix("/console").removeprefix("/")
    event.update(
        path=path,
        resource="/console/{proxy+}" if proxy else "/console",
        pathParameters={"proxy": proxy} if proxy else None,
    )
    event["requestContext"].update(path=f"/dev{path}", resourcePath=event["resource"])
    response = api.lambda_handler(event, context)
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    for name, values in (response.get("multiValueHeaders") or {}).items():
        headers.setdefault(name.lower(), values[0])
    return response["statusCode"], headers, response.get("body") or ""


@pytest.mark.parametrize(
    ("name", "content_type", "cache"),
    [
        ("index.html", "text/html; charset=utf-8", "no-cache"),
        ("app.js", "text/javascript; charset=utf-8", "public, max-age=300"),
        ("app.css", "text/css; charset=utf-8", "public, max-age=300"),
    ],
)
def test_each_console_file_is_served_with_its_type_and_caching(api, lambda_context, name, content_type, cache):
    # When a console file is requested
    status, headers, body = get(api, lambda_context, f"/console/{name}")
    # Then it is the file on disk, with its content type and cache policy
    assert status == 200
    assert headers["content-type"] == content_type
    assert headers["cache-control"] == cache
    assert headers["x-content-type-options"] == "nosniff"
    assert "script-src 'self'" in headers["content-security-policy"]
    assert body == (CONSOLE / name).read_text(encoding="utf-8")


def test_the_console_root_with_a_slash_is_the_page(api, lambda_context):
    status, headers, body = get(api, lambda_context, "/console/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert '<script src="app.js"' in body


def test_the_console_root_without_a_slash_redirects_relatively(api, lambda_context):
    # A relative Location keeps API Gateway's stage prefix (/dev/console → /dev/console/)
    status, headers, _ = get(api, lambda_context, "/console")
    assert status == 301 and headers["location"] == "console/"


@pytest.mark.parametrize(
    "path",
    [
        "/console/..%2Fpyproject.toml",
        "/console/..%2F..%2F..%2Fetc%2Fpasswd",
        "/console/%2e%2e%2fREADME.md",
        "/console/../template.yaml",
        "/console/%2Fetc%2Fpasswd",
        "/console/..",
    ],
)
def test_a_traversal_attempt_is_not_found(api, lambda_context, path):
    status, _headers, body = get(api, lambda_context, path)
    assert status == 404
    assert "[tool.pytest" not in body and "root:" not in body and "AWSTemplateFormatVersion" not in body


def test_an_unknown_console_file_is_a_machine_readable_404(api, lambda_context):
    status, headers, body = get(api, lambda_context, "/console/nope.js")
    assert status == 404 and headers["content-type"] == "application/json"
    assert json.loads(body)["error"]["code"] == "not_found"


def test_a_file_of_another_type_in_the_folder_is_not_served(api, lambda_context, tmp_path):
    from crmhub.api.console import console_file
    from crmhub.errors import NotFound

    # Given a console folder holding a file with no console content type
    (tmp_path / "index.html").write_text("<p>hi</p>")
    (tmp_path / "secrets.env").write_text("TOKEN=x")
    # Then only the known types are served from it
    assert console_file("index.html", root=tmp_path) == tmp_path / "index.html"
    with pytest.raises(NotFound):
        console_file("secrets.env", root=tmp_path)


def test_the_console_is_found_beside_the_package_or_in_the_function_artefact(tmp_path):
    from crmhub.api.console import console_dir

    # In a checkout: <repo>/console
    assert console_dir() == CONSOLE
    # In the Lambda artefact: the first candidate that holds index.html
    artefact = tmp_path / "task" / "console"
    artefact.mkdir(parents=True)
    (artefact / "index.html").write_text("<p>hi</p>")
    assert console_dir([tmp_path / "missing", artefact]) == artefact
    assert console_dir([tmp_path / "missing"]) is None
