"""docs/openapi.json is generated from the handlers and must match them."""

from __future__ import annotations

import json

from local.openapi import DOCUMENT_PATH, openapi_document
from local.template import Template, load_template


def test_committed_document_matches_the_handlers() -> None:
    generated = json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n"
    assert DOCUMENT_PATH.read_text() == generated, "docs/openapi.json is stale: run `make openapi`"


def test_document_lists_every_template_route_behind_the_bearer_scheme() -> None:
    body = load_template()
    template = Template(body, {n: "x" for n, spec in body["Parameters"].items() if "Default" not in spec})
    document = openapi_document(template)
    for route in template.http_routes():
        assert route.method.lower() in document["paths"][route.path], route
    assert document["security"] == [{"BankJwt": []}]
    assert document["components"]["securitySchemes"]["BankJwt"]["scheme"] == "bearer"


def test_every_route_documents_its_success_shape() -> None:
    # Powertools drops the success response of a route that lists other responses without it.
    for path, operations in openapi_document()["paths"].items():
        for method, operation in operations.items():
            success = {code: r for code, r in operation["responses"].items() if code.startswith("2")}
            assert success, f"{method.upper()} {path} documents no success response"
            assert any("content" in r for r in success.values()), f"{method.upper()} {path}: no success schema"


def test_statuses_api_gateway_answers_itself_document_its_message_shape() -> None:
    # API Gateway answers 401 (token), 413 (10 MB), 429 (throttling) and 5xx (function failed or too slow)
    # with {"message": ...}; the product answers some of the same statuses with its own body.
    document = openapi_document()
    gateway = {"$ref": "#/components/schemas/GatewayMessage"}
    product = {"$ref": "#/components/schemas/ErrorBody"}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                schema = response.get("content", {}).get("application/json", {}).get("schema", {})
                shapes = schema.get("anyOf", [schema])
                if status in ("401", "429", "500", "502", "503"):
                    assert gateway in shapes and product in shapes, (method, path, status)
                elif status in ("413", "504"):
                    assert gateway in shapes, (method, path, status)
                elif status.startswith(("4", "5")):
                    assert shapes == [product], (method, path, status)
    assert document["components"]["schemas"]["GatewayMessage"]["required"] == ["message"]


def test_every_link_names_an_operation_of_the_document() -> None:
    document = openapi_document()
    operations = {o["operationId"]: o for ops in document["paths"].values() for o in ops.values()}
    links = [link for ops in document["paths"].values() for o in ops.values()
             for r in o["responses"].values() for link in r.get("links", {}).values()]
    assert len(links) >= 8
    for link in links:
        target = operations[link["operationId"]]
        names = {p["name"] for p in target.get("parameters", []) if p["in"] == "path"}
        assert set(link["parameters"]) <= names, link
