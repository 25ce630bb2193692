"""HTTP entry point of auto-sync: Sync now (Admin and Finance; rate-limited per business)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from xerosync import http
from xerosync.auto_sync.sync_now import SyncNowAccepted
from xerosync.auto_sync.wiring import get_sync_now_service
from xerosync.observability import instrument

app = http.Resolver(enable_validation=True)
http.install(app)

_RESPONSES = http.responses(
    success=202, success_text="The sync is queued; the connection status shows its result and last sync time.",
    e429="Sync now was used moments ago; the Retry-After header says when it may be used again.")


@app.post("/v1/xero/sync", summary="Sync the business's bank feeds to Xero now", tags=["auto-sync"],
          status_code=202, responses=_RESPONSES)
def sync_now() -> SyncNowAccepted:
    return get_sync_now_service().request(http.current_caller(app))


@instrument(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
