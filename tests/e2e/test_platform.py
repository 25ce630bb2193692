"""The platform end to end: token, authorizer, handler, DynamoDB on moto server, over real HTTP."""

from __future__ import annotations

import pytest

from local.stack import DevStack

pytestmark = pytest.mark.e2e


def test_health_over_http_shows_the_callers_business_and_role(stack: DevStack) -> None:
    token = stack.token(business_id="biz_e2e", user_id="u_admin", role="Admin")
    response = stack.api("GET", "/v1/health", token=token)
    assert response.status_code == 200
    assert response.json()["business_id"] == "biz_e2e" and response.json()["role"] == "Admin"
    assert response.headers["apigw-requestid"]


def test_health_without_a_token_is_refused(stack: DevStack) -> None:
    response = stack.api("GET", "/v1/health")
    assert response.status_code == 401 and response.json() == {"message": "Unauthorized"}


def test_the_api_description_is_served_with_a_browsable_page(stack: DevStack) -> None:
    import requests

    document = requests.get(stack.urls["api"] + "/openapi.json", timeout=10).json()
    assert "/v1/health" in document["paths"]
    page = requests.get(stack.urls["docs"], timeout=10)
    assert page.status_code == 200 and "swagger-ui-bundle.min.js" in page.text
    assert requests.get(stack.urls["docs"] + "/swagger-ui-bundle.min.js", timeout=10).status_code == 200
