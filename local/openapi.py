"""The HTTP API's OpenAPI document, generated from the handlers' own routes and models.

Every function behind the HTTP API has its own Powertools resolver; this imports each handler module the
template routes to and merges their schemas, so the document can never list a route the code lacks.
``python -m local openapi`` writes it to docs/openapi.json; the local stack serves it at /openapi.json
with a browsable page at /docs (Swagger UI as bundled with Powertools, so it works offline).
"""

from __future__ import annotations

import importlib
import json
import sys
from functools import cache
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge
from aws_lambda_powertools.event_handler.openapi.models import Server

from local.template import REPO_ROOT, Template, load_template

DOCUMENT_PATH = REPO_ROOT / "docs" / "openapi.json"
_SWAGGER_DIR = Path(importlib.import_module("aws_lambda_powertools.event_handler.openapi.swagger_ui").__file__
                    or "").parent

DESCRIPTION = (
    "Connects the bank's business customers to Xero: OAuth connection, bank feeds synced every 3 hours, "
    "and expenses synced as Spend Money with receipts. Every route needs the bank's user token "
    "(Authorization: Bearer); the business and role come from its claims."
)


def handler_modules(template: Template) -> list[str]:
    functions = template.functions()
    modules = []
    for route in template.http_routes():
        spec = functions[route.function]
        if str(spec.code_uri) not in sys.path:
            sys.path.insert(0, str(spec.code_uri))
        if spec.module not in modules:
            modules.append(spec.module)
    layer = str(REPO_ROOT / "layers" / "common")
    if layer not in sys.path:
        sys.path.insert(0, layer)
    return modules


def openapi_document(template: Template | None = None) -> dict[str, Any]:
    template = template or _template_with_placeholders()
    merge = OpenAPIMerge(
        title="Xero integration API",
        version="1.0.0",
        description=DESCRIPTION,
        servers=[Server(url="https://{api_id}.execute-api.{region}.amazonaws.com",
                        variables={"api_id": {"default": "api"}, "region": {"default": "ap-southeast-1"}})],
        security_schemes={"BankJwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},  # type: ignore[dict-item]
        security=[{"BankJwt": []}],
        on_conflict="error",
    )
    for name in handler_modules(template):
        module = importlib.import_module(name)
        merge.add_schema(module.app.get_openapi_schema())
    return _without_422(json.loads(merge.get_openapi_json_schema()))


def _without_422(document: dict[str, Any]) -> dict[str, Any]:
    """Invalid requests get the product's 400 (``xerosync.http``), not Powertools' default 422."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict) and "HTTPValidationError" in json.dumps(
                    operation.get("responses", {}).get("422", {})):
                operation["responses"].pop("422")  # Powertools' own; a route's documented 422 stays
    schemas = document.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    return document


def _template_with_placeholders() -> Template:
    body = load_template()
    needed = {name: "placeholder" for name, spec in body.get("Parameters", {}).items() if "Default" not in spec}
    return Template(body, needed)


def write_document(path: Path = DOCUMENT_PATH) -> Path:
    path.write_text(json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n")
    return path


def swagger_page(document_url: str, assets_url: str) -> str:
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Xero integration API</title>
<link rel="stylesheet" href="{assets_url}/swagger-ui.min.css"></head>
<body><div id="swagger-ui"></div>
<script src="{assets_url}/swagger-ui-bundle.min.js"></script>
<script>
window.ui = SwaggerUIBundle({{url: "{document_url}", dom_id: "#swagger-ui", persistAuthorization: true}});
</script>
</body></html>"""


@cache
def swagger_asset(name: str) -> tuple[bytes, str] | None:
    kinds = {"swagger-ui-bundle.min.js": "application/javascript", "swagger-ui.min.css": "text/css"}
    if name not in kinds:
        return None
    return (_SWAGGER_DIR / name).read_bytes(), kinds[name]
