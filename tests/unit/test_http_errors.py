"""The product's error mapping (xerosync.http.install): an answer the product built wrong is its own fault."""

from __future__ import annotations

import json
from typing import Any

from xerosync import http
from xerosync.model import Model


class Wanted(Model):
    items: list[str]


def _event(path: str) -> dict[str, Any]:
    return {
        "version": "2.0", "routeKey": f"GET {path}", "rawPath": path, "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {"http": {"method": "GET", "path": path}, "stage": "$default"},
        "isBase64Encoded": False,
    }


def test_an_answer_that_fails_its_response_model_is_a_500_not_the_callers_400() -> None:
    app = http.Resolver(enable_validation=True)
    http.install(app)

    @app.get("/broken")
    def broken() -> Wanted:
        return {"mappings": []}  # type: ignore[return-value]  # the shape of another route's answer

    @app.get("/invalid")
    def invalid(limit: int) -> Wanted:
        return Wanted(items=[str(limit)])

    answer = app.resolve(_event("/broken"), {})
    assert answer["statusCode"] == 500
    assert json.loads(answer["body"])["error"]["code"] == "internal_error"
    refused = app.resolve(_event("/invalid"), {})  # the caller's fault stays a 400 naming the field
    assert refused["statusCode"] == 400
    assert json.loads(refused["body"])["error"]["code"] == "invalid_request"
