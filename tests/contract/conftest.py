"""Contract-test plumbing: the official specs (loaded once per session, with a few
documented patches), httpx ⇄ openapi-core adapters, and a recording transport.

The specs are pinned copies of the handout's (``../shared/reference/specs``) in ``specs/``, never edited. Where a
spec contradicts itself or the documented API in a way openapi-core would hold against a
correct request or answer, the loaded dict gets a minimal patch, listed here with its
reason. Every patch is asserted to still apply (``test_spec_patches_still_apply``), so a new
spec version that fixes a bug makes the patch fail loudly instead of silently widening.

Pipedrive (API v2, OpenAPI 3.0.1):
  P1  ``POST /persons`` and ``POST /organizations`` require ``title`` — a property neither
      body declares (a copy of the deals body); the documented required field is ``name``.
  P2  ``additional_data.next_cursor`` is a non-nullable string although its own description
      says it is ``null`` on the last page; made ``nullable``.
  P3  ``GET /products`` wraps each list item in ``{success, data}`` (the single-product
      answer); list items are products, as for every other list: the items schema is
      replaced by that product schema (otherwise any item would pass, the wrapper having
      no required keys).
  P4  ``GET /products/search`` types ``item.code`` as integer; product codes are strings
      everywhere else (``POST/PATCH/GET /products``).

Bling (API v3, OpenAPI 3.0.0):
  B1  Only the paths the hub uses are kept: the full document fails OpenAPI validation on
      unrelated paths (path parameters declared ``required: false`` or not in the path), so
      openapi-core refuses to load it. The kept subset validates.
  B2  ``NaturezasOperacoesDadosDTO.padrao`` lists ``9`` twice in an enum (invalid schema;
      unused by our paths but components are validated too): deduplicated.
  B3  ``ErrorResponse.required`` names ``error.type``, ``message`` and ``description`` at the
      top level, where the documented body ``{"error": {…}}`` has only ``error``: → ``["error"]``.
  B4  Server-assigned values are required in request bodies because requests and answers
      share DTOs: ``ContatosDadosBaseDTO.id``, ``VendasItemDTO.id``, ``VendasParcelaDTO.id``
      and ``VendasContatoDTO.nome`` (Bling fills the name from the contact id) are marked
      ``readOnly`` — still required in answers, now refused (not required) in requests.
  B5  ``VendasItemDTO.required`` lists ``valorLista``, which the schema does not declare:
      dropped from ``required``.

Not in the specs at all (so not contract-checked; shapes from the providers' docs):
Pipedrive ``/v1/webhooks`` (v1 API) and Bling ``/oauth/token``.
"""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
import yaml
from werkzeug.datastructures import Headers, ImmutableMultiDict

SPECS = Path(__file__).resolve().parent / "specs"  # pinned copies of ../shared/reference/specs
PIPEDRIVE_SPEC = SPECS / "pipedrive-openapi-v2.yaml"
BLING_SPEC = SPECS / "bling-openapi-v3.json"
PIPEDRIVE_BASE = "https://api.pipedrive.com/api/v2"
BLING_BASE = "https://api.bling.com.br/Api/v3"

BLING_PATHS = (
    "/contatos",
    "/contatos/{idContato}",
    "/contatos/{idContato}/situacoes",
    "/produtos",
    "/produtos/{idProduto}",
    "/produtos/{idProduto}/situacoes",
    "/pedidos/vendas",
    "/pedidos/vendas/{idPedidoVenda}",
    "/pedidos/vendas/{idPedidoVenda}/situacoes/{idSituacao}",
)
# Endpoints we call that the specs do not describe (path prefix → why).
OUTSIDE_SPEC = {
    "https://api.pipedrive.com/v1/webhooks": "Pipedrive webhooks are a v1 endpoint, absent from the v2 spec",
    "https://api.bling.com.br/Api/v3/oauth/token": "Bling's token endpoint is not in its spec",
}


# --------------------------------------------------------------------------- patches


def _json_schema(operation: dict[str, Any], status: str = "200") -> dict[str, Any]:
    return operation["responses"][status]["content"]["application/json"]["schema"]


def patch_pipedrive(spec: dict[str, Any]) -> list[str]:
    """Apply P1–P4 (see the module docstring); returns what was patched."""
    done = []
    paths = spec["paths"]
    for path in ("/persons", "/organizations"):  # P1
        body = paths[path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert body.get("required") == ["title"] and "title" not in body["properties"], f"P1 {path} changed"
        body["required"] = ["name"]
        done.append(f"P1 {path}")

    def nullable_cursor(node: Any) -> int:  # P2
        count = 0
        if isinstance(node, dict):
            cursor = node.get("properties", {}).get("next_cursor") if "properties" in node else None
            if isinstance(cursor, dict) and cursor.get("type") == "string" and not cursor.get("nullable"):
                cursor["nullable"] = True
                count += 1
            count += sum(nullable_cursor(v) for v in node.values())
        elif isinstance(node, list):
            count += sum(nullable_cursor(v) for v in node)
        return count

    assert nullable_cursor(paths) > 0, "P2 no next_cursor left to patch"
    done.append("P2 next_cursor nullable")
    items = _json_schema(paths["/products"]["get"])["properties"]["data"]["items"]  # P3
    assert set(items["properties"]) == {"success", "data"}, "P3 products list items changed"
    paths["/products"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["data"][
        "items"
    ] = items["properties"]["data"]
    done.append("P3 products list items")
    search = _json_schema(paths["/products/search"]["get"])["allOf"][1]["properties"]["data"]  # P4
    code = search["properties"]["items"]["items"]["properties"]["item"]["properties"]["code"]
    assert code["type"] == "integer", "P4 products search code changed"
    code["type"] = "string"
    done.append("P4 products search code")
    return done


def patch_bling(spec: dict[str, Any]) -> list[str]:
    """Apply B1–B5 (see the module docstring); returns what was patched."""
    done = []
    spec["paths"] = {path: spec["paths"][path] for path in BLING_PATHS}  # B1
    done.append("B1 used paths only")
    schemas = spec["components"]["schemas"]
    padrao = schemas["NaturezasOperacoesDadosDTO"]["properties"]["padrao"]  # B2
    assert len(padrao["enum"]) != len(set(padrao["enum"])), "B2 enum fixed upstream"
    padrao["enum"] = sorted(set(padrao["enum"]))
    done.append("B2 padrao enum")
    assert schemas["ErrorResponse"]["required"] == ["error.type", "message", "description"], "B3 changed"  # B3
    schemas["ErrorResponse"]["required"] = ["error"]
    done.append("B3 ErrorResponse.required")
    for name, prop in (  # B4
        ("ContatosDadosBaseDTO", "id"),
        ("VendasItemDTO", "id"),
        ("VendasParcelaDTO", "id"),
        ("VendasContatoDTO", "nome"),
    ):
        assert prop in schemas[name]["required"], f"B4 {name}.{prop} no longer required"
        schemas[name]["properties"][prop]["readOnly"] = True
        done.append(f"B4 {name}.{prop} readOnly")
    item = schemas["VendasItemDTO"]  # B5
    assert "valorLista" in item["required"] and "valorLista" not in item["properties"], "B5 changed"
    item["required"] = [r for r in item["required"] if r != "valorLista"]
    done.append("B5 VendasItemDTO.valorLista")
    return done


# --------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class Contract:
    """One provider's loaded spec, ready to validate httpx exchanges."""

    name: str
    openapi: Any
    patches: list[str]
    auth_header: str  # the header every request must carry
    document: dict[str, Any]  # the patched spec
    base_url: str  # the spec's server URL (clients under test use it, over a WSGI transport)

    def schema_errors(self, component: str, instance: Any) -> list[str]:
        """Violations of ``instance`` against ``#/components/schemas/<component>`` (for
        answers whose status the spec does not list, e.g. 401/429 error bodies)."""
        from openapi_schema_validator import OAS30Validator

        root = {"$ref": f"#/components/schemas/{component}", "components": self.document["components"]}
        return [error.message for error in OAS30Validator(root).iter_errors(instance)]

    def check_request(self, request: httpx.Request) -> None:
        """Raise if ``request`` violates the spec (or carries no credentials)."""
        if self.auth_header not in request.headers:
            # openapi-core cannot check OAuth2 schemes, and a Pipedrive request satisfies
            # "api_key OR oauth2" that way: check the header ourselves
            raise AssertionError(f"{self.name}: request without credentials ({self.auth_header})")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openapi-core warns that it cannot check OAuth2 itself
            self.openapi.validate_request(HttpxOpenAPIRequest(request))

    def check_response(self, request: httpx.Request, response: httpx.Response) -> bool:
        """Raise if ``response`` (to ``request``) violates the spec. An error status the
        operation does not declare (Pipedrive declares none; Bling no 401/429) cannot be
        checked here: returns False (Bling's error bodies are checked by ``schema_errors``)."""
        from openapi_core.templating.responses.exceptions import ResponseNotFound

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                self.openapi.validate_response(HttpxOpenAPIRequest(request), HttpxOpenAPIResponse(response))
            except ResponseNotFound:
                if response.status_code < 400:
                    raise  # a success status the spec does not know is a contract breach
                return False
        return True

    def check_all(self, transport: RecordingTransport, *, responses: bool = True) -> int:
        """Validate every recorded in-spec request (and its answer); returns how many."""
        checked = 0
        for exchange in transport.in_spec():
            self.check_request(exchange.request)
            if responses:
                self.check_response(exchange.request, exchange.response)
            checked += 1
        return checked


def _load(
    name: str, raw: dict[str, Any], patch: Callable[[dict[str, Any]], list[str]], auth: str, base_url: str
) -> Contract:
    from openapi_core import OpenAPI

    spec = copy.deepcopy(raw)
    patches = patch(spec)
    return Contract(
        name=name, openapi=OpenAPI.from_dict(spec), patches=patches, auth_header=auth, document=spec, base_url=base_url
    )


def _read(path: Path) -> str:
    if not path.is_file():
        pytest.fail(f"spec not found at {path}: the contract suite needs the handout's specs beside the repository")
    return path.read_text()


@pytest.fixture(scope="session")
def pipedrive_raw_spec() -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader: the spec is 12k lines
    return yaml.load(_read(PIPEDRIVE_SPEC), Loader=loader)  # a safe loader


@pytest.fixture(scope="session")
def bling_raw_spec() -> dict[str, Any]:
    return json.loads(_read(BLING_SPEC))


@pytest.fixture(scope="session")
def pipedrive_contract(pipedrive_raw_spec: dict[str, Any]) -> Contract:
    return _load("pipedrive", pipedrive_raw_spec, patch_pipedrive, "x-api-token", PIPEDRIVE_BASE)


@pytest.fixture(scope="session")
def bling_contract(bling_raw_spec: dict[str, Any]) -> Contract:
    return _load("bling", bling_raw_spec, patch_bling, "authorization", BLING_BASE)


# --------------------------------------------------------------------------- adapters


class HttpxOpenAPIRequest:
    """An httpx request seen through openapi-core's ``Request`` protocol."""

    def __init__(self, request: httpx.Request) -> None:
        from openapi_core.datatypes import RequestParameters

        self._request = request
        url = request.url
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qsl(url.query.decode(), keep_blank_values=True)),
            header=Headers(list(request.headers.items())),
            cookie=ImmutableMultiDict(),
        )
        self.host_url = f"{url.scheme}://{url.netloc.decode()}"
        self.path = url.path
        self.method = request.method.lower()
        self.body = request.content or None
        self.content_type = request.headers.get("content-type", "")


class HttpxOpenAPIResponse:
    """An httpx response seen through openapi-core's ``Response`` protocol."""

    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.headers = Headers(list(response.headers.items()))
        self.data = response.content
        self.content_type = response.headers.get("content-type", "")


@dataclass
class Exchange:
    request: httpx.Request
    response: httpx.Response

    @property
    def outside_spec(self) -> bool:
        url = str(self.request.url)
        return any(url.startswith(prefix) for prefix in OUTSIDE_SPEC)


@dataclass
class RecordingTransport(httpx.BaseTransport):
    """Passes requests to ``inner`` (e.g. a simulator's WSGI app) and keeps every exchange."""

    inner: httpx.BaseTransport
    exchanges: list[Exchange] = field(default_factory=list)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        response = self.inner.handle_request(request)
        response.read()
        self.exchanges.append(Exchange(request, response))
        return response

    def in_spec(self) -> Iterator[Exchange]:
        """The exchanges the spec covers."""
        return (e for e in self.exchanges if not e.outside_spec)


@pytest.fixture
def record() -> Callable[[Any], RecordingTransport]:
    """``record(app)``: a transport into a simulator's WSGI app that keeps every exchange."""

    def make(app: Any) -> RecordingTransport:
        return RecordingTransport(httpx.WSGITransport(app=app))

    return make
