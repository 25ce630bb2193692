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
