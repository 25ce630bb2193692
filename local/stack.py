"""The whole product on one machine: moto server, the Xero and ledger emulators, the HTTP API, the queue
pollers and the schedules, all wired from template.yaml.

    with DevStack(DevStackConfig()) as stack:
        token = stack.token(business_id="biz_1", user_id="u_1", role="Finance")
        stack.api("GET", "/v1/health", token=token)

Handlers run in this process with the environment the template gives them, pointed at loopback.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import requests
from moto.server import ThreadedMotoServer

from emulators.time_control import SystemClock
from local import aws_in_process, http_in_process, moto_patches
from local.api_gateway import HttpApi
from local.authorizer import LOCAL_AUDIENCE, LOCAL_ISSUER, DevTokenAuthority
from local.console import CONSOLE_PATH, ConsoleSite
from local.event_sources import Scheduler, SqsEventSourceMapping
from local.lambda_runtime import LambdaRuntime
from local.provision import Provisioned, create_locally, provision
from local.template import REGION, Template, load_template

LOCAL_CLIENT_ID = "local-dev-client"
LOCAL_CLIENT_SECRET = "local-dev-secret"  # the Xero emulator's development app, not a real secret
LOCAL_REDIRECT_URI = "http://127.0.0.1:3000/xero/callback"
CALLBACK_PATH = "/xero/callback"  # the frontend's page Xero redirects to: the console's, locally
LEDGER_BUS = "bank-ledger"

log = logging.getLogger("local.stack")


@dataclass
class DevStackConfig:
    host: str = "127.0.0.1"
    api_port: int = 0
    moto_port: int = 0
    xero_port: int = 0
    ledger_port: int = 0
    # Deployed queues hide a failed message for minutes; locally it comes back after this many seconds.
    visibility_timeout: int | None = 2
    # Invocations each queue's mapping keeps in flight at once (several FIFO message groups, never two batches of
    # one), capped by the template's MaximumConcurrency; 0: no polling, tests pump by hand.
    concurrency: int = 4
    schedule_speed: float | None = None  # None: schedules fire only on demand
    log_level: str = "WARNING"
    key_path: Path | None = None
    # One clock for everything (the functions, the emulators, SQS's timing): the soak's virtual clock. None: real
    # time, with the emulators on ``xero_clock`` / ``ledger_clock`` if given.
    clock: Any = None
    xero_clock: Any = None
    ledger_clock: Any = None
    emulators: bool = True
    # Xero's OpenAPI files checked on every request (when they are there): the tests' guard; a soak that sends
    # a hundred thousand requests the tests already hold to the files may turn it off (a third of the cost).
    xero_strict: bool = True
    # The product's AWS calls handed to moto in this process, without a socket (local/aws_in_process.py): the
    # same answers, at a fraction of the cost; for a soak's hundreds of thousands of calls.
    aws_in_process: bool = False
    # The product's requests to the Xero and ledger emulators handed to their WSGI applications in this process
    # (local/http_in_process.py): the same answers, drops and timeouts, without a socket; the emulators still
    # serve on loopback for everything else (a browser, the console).
    emulators_in_process: bool = False
    extra_environment: dict[str, str] = field(default_factory=dict)


class DevStack:
    def __init__(self, config: DevStackConfig | None = None) -> None:
        self.config = config or DevStackConfig()
        self.urls: dict[str, str] = {}
        self.moto: ThreadedMotoServer | None = None
        self.xero: Any = None
        self.ledger: Any = None
        self.template: Template | None = None
        self.provisioned: Provisioned | None = None
        self.runtime: LambdaRuntime | None = None
        self.http: HttpApi | None = None
        self.mappings: dict[str, SqsEventSourceMapping] = {}
        self.scheduler: Scheduler | None = None
        self.authority: DevTokenAuthority | None = None
        self._saved_environ: dict[str, str] | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> DevStack:
        started = time.perf_counter()
        cfg = self.config
        self._saved_environ = dict(os.environ)
        moto_patches.apply()
        if cfg.clock is not None:
            moto_patches.use_clock(cfg.clock)
        # moto server logs every AWS call through werkzeug; the API's own request log is local.http.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.moto = ThreadedMotoServer(ip_address=cfg.host, port=cfg.moto_port, verbose=False)
        self.moto.start()
        host, port = self.moto.get_host_and_port()
        self.urls["moto"] = f"http://{host}:{port}"
        if cfg.aws_in_process:
            aws_in_process.install(self.urls["moto"])
        # moto keeps its state per process: a stack starts from an empty AWS even after an earlier one.
        requests.post(self.urls["moto"] + "/moto-api/reset", timeout=10).raise_for_status()
        os.environ.update({
            "AWS_ENDPOINT_URL": self.urls["moto"], "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
        })

        # The API's port is taken first: Xero redirects the browser to the console's callback page on it.
        listener = socket.create_server((cfg.host, cfg.api_port))
        redirect_uri = f"http://{cfg.host}:{listener.getsockname()[1]}{CALLBACK_PATH}"
        if cfg.emulators:
            self._start_emulators(redirect_uri)
        parameters = {
            "Stage": "local", "JwtIssuer": LOCAL_ISSUER, "JwtAudience": LOCAL_AUDIENCE,
            "XeroClientId": LOCAL_CLIENT_ID, "XeroClientSecretArn": create_locally(LOCAL_CLIENT_SECRET),
            "XeroRedirectUri": redirect_uri,
            "XeroLoginUrl": self.urls.get("xero", "http://127.0.0.1:9"),
            "XeroIdentityUrl": self.urls.get("xero", "http://127.0.0.1:9"),
            "XeroApiUrl": self.urls.get("xero", "http://127.0.0.1:9"),
            "LedgerApiUrl": self.urls.get("ledger", "http://127.0.0.1:9"),
            "LedgerEventBusName": LEDGER_BUS, "LogLevel": cfg.log_level,
        }
        self.template = Template(load_template(), parameters)
        self.provisioned = provision(self.template, endpoint_url=self.urls["moto"],
                                     visibility_timeout_override=cfg.visibility_timeout)
        self.template = self.provisioned.template  # with the ARNs of what lives outside the stack
        os.environ.update(self.provisioned.environment)
        # No X-Ray daemon locally; metrics still print as EMF lines when the log level lets them through.
        os.environ.update({"POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_DISABLED": "true",
                           **cfg.extra_environment})
        _forget_cached_adapters()

        self.runtime = LambdaRuntime(self.template, clock=cfg.clock)
        issuer = self.template.authorizer()
        self.authority = DevTokenAuthority(issuer=issuer["issuer"], audience=issuer["audience"],
                                           key_path=cfg.key_path)
        self.http = HttpApi(self.template, self.runtime, self.authority)
        self.http.control_routes[("POST", "/_local/schedules")] = self._fire_from_request
        self.http.local_sites.append(ConsoleSite(self.authority, xero_url=self.urls.get("xero"),
                                                 ledger_url=self.urls.get("ledger")))
        self.urls["api"] = self.http.serve(cfg.host, cfg.api_port, listener=listener)
        self.urls["docs"] = self.urls["api"] + "/docs"
        self.urls["console"] = self.urls["api"] + CONSOLE_PATH

        sqs = boto3.client("sqs", endpoint_url=self.urls["moto"], region_name=REGION)
        for source in self.template.sqs_sources():
            mapping = SqsEventSourceMapping(source, self.template, self.runtime, sqs,
                                            self.provisioned.queue_url(source.queue))
            self.mappings[source.function] = mapping
            if cfg.concurrency:
                mapping.start(concurrency=cfg.concurrency)
        self.scheduler = Scheduler(self.template, self.runtime, speed=cfg.schedule_speed or 1.0, clock=cfg.clock)
        if cfg.schedule_speed:
            self.scheduler.start()
        self.ready_seconds = time.perf_counter() - started
        return self

    def _start_emulators(self, redirect_uri: str) -> None:
        from emulators.ledger import EventBridgePublisher, LedgerEmulator
        from emulators.xero import XeroEmulator

        cfg = self.config
        self.xero = XeroEmulator(clock=cfg.xero_clock or cfg.clock or SystemClock(), strict=cfg.xero_strict)
        self.urls["xero"] = self.xero.start(host=cfg.host, port=cfg.xero_port)
        self.xero.register_app(LOCAL_CLIENT_ID, LOCAL_CLIENT_SECRET, [redirect_uri], name="Local Dev App")
        events = boto3.client("events", endpoint_url=self.urls["moto"], region_name=REGION)
        self.ledger = LedgerEmulator(clock=cfg.ledger_clock or cfg.clock or SystemClock(),
                                     event_publisher=EventBridgePublisher(events, LEDGER_BUS))
        self.urls["ledger"] = self.ledger.start(host=cfg.host, port=cfg.ledger_port)
        if cfg.emulators_in_process:
            http_in_process.install(self.urls["xero"], self.xero.app)
            http_in_process.install(self.urls["ledger"], self.ledger.app)

    def stop(self) -> None:
        if self.scheduler:
            self.scheduler.stop()
        for mapping in self.mappings.values():
            mapping.stop()
        if self.http:
            self.http.stop()
        for key in ("xero", "ledger"):
            if key in self.urls:
                http_in_process.uninstall(self.urls[key])
        for emulator in (self.xero, self.ledger):
            if emulator is not None:
                emulator.stop()
        if self.moto:
            self.moto.stop()
            aws_in_process.uninstall(self.urls["moto"])
        if self.config.clock is not None:
            moto_patches.use_clock(None)
        if self.runtime is not None:
            self.runtime.close()
        if self._saved_environ is not None:
            os.environ.clear()
            os.environ.update(self._saved_environ)
        boto3.DEFAULT_SESSION = None  # it may have resolved the stack's endpoint
        _forget_cached_adapters()

    def __enter__(self) -> DevStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ using it
    def token(self, *, business_id: str, user_id: str, role: str, ttl_seconds: int = 3600) -> str:
        assert self.authority is not None
        return self.authority.mint(business_id=business_id, user_id=user_id, role=role, ttl_seconds=ttl_seconds)

    def api(self, method: str, path: str, *, token: str | None = None, json_body: Any = None,
            headers: dict[str, str] | None = None, timeout: float = 35) -> requests.Response:
        """Call the HTTP API over loopback, as a frontend would."""
        sent = dict(headers or {})
        if token:
            sent["Authorization"] = f"Bearer {token}"
        return requests.request(method, self.urls["api"] + path, json=json_body, headers=sent, timeout=timeout)

    def fire(self, schedule_name: str, *, as_next: bool = False) -> Any:
        assert self.scheduler is not None
        return self.scheduler.fire(schedule_name, as_next=as_next)

    def _fire_from_request(self, body: dict[str, Any]) -> dict[str, Any]:
        name = str(body.get("name", ""))
        result = self.fire(name, as_next=bool(body.get("next", False)))
        return {"fired": name, "result": result}

    def sqs(self) -> Any:
        return boto3.client("sqs", endpoint_url=self.urls["moto"], region_name=REGION)

    def queue_depth(self, logical_id: str) -> int:
        assert self.provisioned is not None
        attributes = self.sqs().get_queue_attributes(
            QueueUrl=self.provisioned.queue_url(logical_id),
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                            "ApproximateNumberOfMessagesDelayed"],
        )["Attributes"]
        return sum(int(v) for v in attributes.values())

    def drain(self, timeout: float = 60.0) -> None:
        """Wait until every queue that feeds a function is empty (processed, or moved to its DLQ)."""
        assert self.template is not None
        queues = {source.queue for source in self.template.sqs_sources()}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.queue_depth(q) == 0 for q in queues):
                return
            time.sleep(0.1)
        busy = {q: self.queue_depth(q) for q in queues if self.queue_depth(q)}
        raise TimeoutError(f"queues still hold messages after {timeout}s: {busy}")

    def describe(self) -> str:
        lines = ["Local stack is up:"]
        labels = {"api": "HTTP API (API Gateway v2 + JWT authorizer)", "docs": "API documentation",
                  "console": "Web console (local only)",
                  "moto": "AWS (moto server)", "xero": "Xero emulator", "ledger": "Ledger emulator"}
        for key, label in labels.items():
            if key in self.urls:
                lines.append(f"  {label:<44} {self.urls[key]}")
        assert self.template is not None
        lines.append(f"  {'queue pollers':<44} {', '.join(sorted(m.name for m in self.mappings.values()))}")
        lines.append(f"  {'schedules':<44} {', '.join(f'{s.name} {s.expression}' for s in self.template.schedules())}")
        return "\n".join(lines)


def _forget_cached_adapters() -> None:
    """Settings, clients and adapters are cached per cold start; a new stack is a new cold start."""
    lifecycle = sys.modules.get("xerosync.lifecycle")
    if lifecycle is not None:
        lifecycle.new_cold_start()
