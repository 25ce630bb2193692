"""Xero's official OpenAPI files as validators, for the emulator's strict mode and for contract tests.

The files are reference data that live outside the project: in the folder named by ``XERO_OPENAPI_DIR``,
else ``<repo>/../shared/xero-openapi``. They are read at run time and never copied. Where they are missing,
:func:`missing_spec_message` says what is missing, where it was looked for and how to provide it; in CI
(``CI=true``) a missing folder is an error, never a silent skip.

Two repairs happen in memory while loading, both because the files are written for YAML 1.2 while PyYAML
speaks YAML 1.1:

* only ``true``/``false`` are booleans and timestamps stay strings (YAML 1.1 turns the country code ``NO``
  into ``False`` in ``xero_bankfeeds.yaml``, which would then refuse Norway);
* string defaults on boolean schemas (``default: "false"`` on ``HasAttachments``, 23 places in the
  accounting file) become real booleans, and defaults on read-only properties are dropped: openapi-core
  fills defaults in before validating, so it would otherwise reject every response that omits such a
  field and every request (a read-only default "written" by the client).

The product's client tests can reuse :class:`XeroSpecs` to check the requests they send.
"""

from __future__ import annotations

import json
import os
import re
import threading
import uuid
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml
from werkzeug.datastructures import Headers, ImmutableMultiDict

#: The repository root: this file is ``<repo>/emulators/xero/spec.py``.
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SPEC_DIR = REPO_ROOT.parent / "shared" / "xero-openapi"
#: Names another folder holding Xero's OpenAPI files.
SPEC_DIR_VARIABLE = "XERO_OPENAPI_DIR"
#: Where Xero publishes the files (MIT licence); version 16.1.0 is the one the emulator is checked against.
SPEC_SOURCE = "https://github.com/XeroAPI/Xero-OpenAPI"
XERO_API_HOST = "https://api.xero.com"

_BOOL_TAG = "tag:yaml.org,2002:bool"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


class _Yaml12Loader(yaml.CSafeLoader):
    """CSafeLoader (fast) with YAML 1.2 scalars: ``NO`` stays a string, dates stay strings."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag not in (_BOOL_TAG, _TIMESTAMP_TAG)]
    for first, resolvers in yaml.CSafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(_BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


class SpecFilesMissing(RuntimeError):
    """Xero's OpenAPI files are needed (strict mode, CI) and are not where they were looked for."""


def spec_dir_location(explicit: str | Path | None = None) -> Path:
    """Where Xero's OpenAPI files are looked for: ``explicit``, else ``$XERO_OPENAPI_DIR``, else the default."""
    if explicit is not None:
        return Path(explicit)
    named = os.environ.get(SPEC_DIR_VARIABLE, "").strip()
    return Path(named) if named else DEFAULT_SPEC_DIR


def missing_spec_files(location: Path) -> list[str]:
    return [api.file_name for api in SPEC_APIS if not (location / api.file_name).is_file()]


def find_spec_dir(explicit: str | Path | None = None) -> Path | None:
    """The folder holding Xero's OpenAPI files, or None when any of them is missing."""
    location = spec_dir_location(explicit)
    return None if missing_spec_files(location) else location


def missing_spec_message(explicit: str | Path | None = None) -> str:
    """What is missing, where it was expected, and how to provide it."""
    location = spec_dir_location(explicit)
    return (f"Xero's OpenAPI files ({', '.join(missing_spec_files(location))}) are not in {location}. "
            f"Put the files of {SPEC_SOURCE} (version 16.1.0) in that folder, or set {SPEC_DIR_VARIABLE} to "
            "the folder that holds them. Without them the Xero emulator's strict mode and the contract "
            "tests cannot check requests against Xero's specification.")


def in_ci() -> bool:
    """True on a CI run (``CI=true``), where nothing that needs the files may be skipped."""
    return os.environ.get("CI", "").strip().lower() == "true"


def require_spec_dir(explicit: str | Path | None = None) -> Path:
    found = find_spec_dir(explicit)
    if found is None:
        raise SpecFilesMissing(missing_spec_message(explicit))
    return found


def _repair_defaults(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("readOnly") is True:
            node.pop("default", None)
        elif node.get("type") == "boolean" and isinstance(node.get("default"), str):
            node["default"] = node["default"].strip().lower() == "true"
        for value in node.values():
            _repair_defaults(value)
    elif isinstance(node, list):
        for value in node:
            _repair_defaults(value)


def load_spec_dict(path: Path) -> dict[str, Any]:
    with path.open("rb") as stream:
        document = yaml.load(stream, Loader=_Yaml12Loader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(document, dict):
        raise ValueError(f"{path} is not an OpenAPI document")
    _repair_defaults(document)
    return document


@dataclass(frozen=True)
class SpecApi:
    """One of Xero's APIs: which file describes it and where it lives on Xero's hosts."""

    name: str
    file_name: str
    #: Path prefix on api.xero.com that the file's ``servers`` URL adds before its paths.
    base_path: str


SPEC_APIS: tuple[SpecApi, ...] = (
    SpecApi("accounting", "xero_accounting.yaml", "/api.xro/2.0"),
    SpecApi("bankfeeds", "xero_bankfeeds.yaml", "/bankfeeds.xro/1.0"),
    # The identity file describes /Connections; Xero serves it at /connections (paths are case-insensitive).
    SpecApi("identity", "xero-identity.yaml", ""),
)


@dataclass(frozen=True)
class PathMatch:
    api: SpecApi
    template: str  # the spec's path template, e.g. /BankTransactions/{BankTransactionID}
    variables: dict[str, str]
    methods: frozenset[str]


@dataclass(frozen=True)
class SpecViolation:
    """A request or response that the official specification does not allow."""

    direction: str  # "request" | "response"
    api: str
    method: str
    path: str
    template: str
    status: int | None
    messages: tuple[str, ...]
    #: True when at least one problem is a malformed value (wrong type, enum, format) rather than a
    #: missing property: Xero refuses those before its own validation runs.
    malformed: bool = False
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "direction": self.direction,
            "api": self.api,
            "method": self.method,
            "path": self.path,
            "template": self.template,
            "status": self.status,
            "messages": list(self.messages),
            "malformed": self.malformed,
        }


#: Responses where Xero is known to differ from its own file; validated against the documented status's
#: schema instead. GET /FeedConnections answers 200 although the file says 202 (Xero-OpenAPI#378).
KNOWN_STATUS_DEVIATIONS: dict[tuple[str, str, str, int], int] = {
    ("bankfeeds", "get", "/FeedConnections", 200): 202,
}

#: Fields whose real values break the file's own format. Xero writes connection dates without a zone and
#: with seven fraction digits ("2019-12-07T18:46:19.5165400"), exactly as the file's own example does, which
#: is not an RFC 3339 date-time; the emulator answers like Xero, so the contract check tolerates it.
_KNOWN_FORMATS: frozenset[tuple[str, str]] = frozenset({("identity", "createdDateUtc"), ("identity", "updatedDateUtc")})

_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class _CompiledPath:
    def __init__(self, api: SpecApi, template: str, methods: frozenset[str]) -> None:
        self.api = api
        self.template = template
        self.methods = methods
        segments = template.strip("/").split("/")
        self.literal_count = sum(1 for s in segments if not s.startswith("{"))
        self.names: list[str] = []
        parts: list[str] = []
        for segment in segments:
            if segment.startswith("{") and segment.endswith("}"):
                self.names.append(segment[1:-1])
                parts.append("([^/]+)")
            else:
                parts.append(re.escape(segment))
        self.regex = re.compile("^" + re.escape(api.base_path) + "/" + "/".join(parts) + "/?$", re.IGNORECASE)

    def match(self, path: str) -> dict[str, str] | None:
        found = self.regex.match(path)
        if not found:
            return None
        return dict(zip(self.names, found.groups(), strict=True))


@dataclass
class _Request:
    """The request shape openapi-core reads (``Request`` + ``SupportsPathPattern`` protocols)."""

    host_url: str
    path: str
    path_pattern: str
    method: str
    body: bytes | None
    content_type: str
    parameters: Any


@dataclass
class _Response:
    status_code: int
    data: bytes | None
    content_type: str
    headers: Headers


class XeroSpecs:
    """Request/response validators built from Xero's OpenAPI files, loaded once per process."""

    _shared: dict[Path, XeroSpecs] = {}
    _shared_lock = threading.Lock()

    def __init__(self, spec_dir: Path) -> None:
        import openapi_core  # imported lazily: a second of import time that only strict mode needs

        self.spec_dir = spec_dir
        self._openapi: dict[str, Any] = {}
        self._paths: list[_CompiledPath] = []
        for api in SPEC_APIS:
            document = load_spec_dict(spec_dir / api.file_name)
            self._openapi[api.name] = openapi_core.OpenAPI.from_dict(
                document,
                config=openapi_core.Config(
                    spec_validator_cls=None,
                    # Bank Feeds errors are application/problem+json: JSON, which openapi-core does not
                    # know by that name.
                    extra_media_type_deserializers={"application/problem+json": _json_loads},
                ),
            )
            for template, item in document.get("paths", {}).items():
                methods = frozenset(
                    m for m in item if m in {"get", "put", "post", "patch", "delete", "head", "options"}
                )
                self._paths.append(_CompiledPath(api, template, methods))
        # Literal segments beat parameters (/FeedConnections/DeleteRequests before /FeedConnections/{id}).
        self._paths.sort(key=lambda p: -p.literal_count)

    @classmethod
    def shared(cls, spec_dir: Path) -> XeroSpecs:
        """One instance per folder and process: building the validators costs about a second."""
        key = spec_dir.resolve()
        with cls._shared_lock:
            if key not in cls._shared:
                cls._shared[key] = cls(key)
            return cls._shared[key]

    def match(self, method: str, path: str) -> PathMatch | None:
        """The spec operation a request path belongs to, case-insensitively as Xero routes it."""
        method = method.lower()
        candidates: list[tuple[_CompiledPath, dict[str, str]]] = []
        for compiled in self._paths:
            variables = compiled.match(path)
            if variables is not None and method in compiled.methods:
                candidates.append((compiled, variables))
        if not candidates:
            return None
        # /Attachments/{AttachmentID} and /Attachments/{FileName} share a shape: a GUID picks the first.
        for compiled, variables in candidates:
            if "AttachmentID" in variables and not _UUID_RE.match(variables["AttachmentID"]):
                continue
            return PathMatch(compiled.api, compiled.template, variables, compiled.methods)
        compiled, variables = candidates[-1]
        return PathMatch(compiled.api, compiled.template, variables, compiled.methods)

    def _build_request(
        self,
        found: PathMatch,
        method: str,
        query: Mapping[str, Any] | list[tuple[str, str]],
        headers: Mapping[str, str] | Headers,
        body: bytes | None,
        content_type: str,
    ) -> _Request:
        from openapi_core.datatypes import RequestParameters

        pairs = list(query.items()) if isinstance(query, Mapping) else list(query)
        if _is_attachment_upload(found, method):
            content_type = "application/octet-stream"
        return _Request(
            host_url=XERO_API_HOST,
            path=found.api.base_path + found.template,
            path_pattern=found.api.base_path + found.template,
            method=method.lower(),
            body=body,
            content_type=content_type or "",
            parameters=RequestParameters(
                query=ImmutableMultiDict(pairs),
                header=Headers(list(headers.items())),
                path=dict(found.variables),
            ),
        )

    def validate_request(
        self,
        method: str,
        path: str,
        query: Mapping[str, Any] | list[tuple[str, str]],
        headers: Mapping[str, str] | Headers,
        body: bytes | None,
        content_type: str,
    ) -> SpecViolation | None:
        """None when the request is allowed by the spec, else what is wrong with it."""
        found = self.match(method, path)
        if found is None:
            return SpecViolation("request", "?", method.upper(), path, "", None, ("no such operation",))
        request = self._build_request(found, method, query, headers, body, content_type)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Unsupported scheme type": OAuth2 is checked by the emulator
            # Validation only: unmarshalling (building Python values from the body) would cost 10x and tell nothing
            errors = list(self._openapi[found.api.name].iter_request_errors(request))
        declared: list[str] = []
        if _is_attachment_upload(found, method):
            # Attachments are raw bytes: the file calls them a string of format "byte" (base64), but Xero and
            # its SDKs send the file itself, so the body is not checked; its media type must be the one the
            # file declares, application/octet-stream (Xero takes the file's type from its name).
            errors = [e for e in errors if "RequestBody" not in type(e).__name__]
            media = (content_type or "").split(";")[0].strip().lower()
            if media != "application/octet-stream":
                declared.append(f"the attachment body is sent as {media or 'no media type'}; the specification "
                                "declares application/octet-stream")
        messages, malformed = _describe_errors(errors)
        messages = [*messages, *declared]
        if not messages:
            return None
        return SpecViolation(
            "request", found.api.name, method.upper(), path, found.template, None, tuple(messages), malformed
        )

    def validate_response(
        self,
        method: str,
        path: str,
        status: int,
        body: bytes | None,
        content_type: str,
        headers: Mapping[str, str] | Headers | None = None,
    ) -> SpecViolation | None:
        """None when the response is allowed by the spec (or the spec documents nothing for it)."""
        found = self.match(method, path)
        if found is None:
            return SpecViolation("response", "?", method.upper(), path, "", status, ("no such operation",))
        status = KNOWN_STATUS_DEVIATIONS.get((found.api.name, method.lower(), found.template, status), status)
        request = self._build_request(found, method, [], {}, None, "")
        media = (content_type or "").split(";")[0].strip().lower()
        if _is_attachment_download(found, method):
            # The file documents downloads as application/octet-stream; Xero serves the file's own type
            # (the client names it in the contentType header), so any type is the documented binary body.
            media = "application/octet-stream"
        response = _Response(status, body, media, Headers(list((headers or {}).items())))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            errors = list(self._openapi[found.api.name].iter_response_errors(request, response))
        messages, malformed = _describe_errors(errors, ignore_undocumented_status=True)
        messages = [m for m in messages if (found.api.name, m.split(":")[0].split("/")[-1]) not in _KNOWN_FORMATS]
        if not messages:
            return None
        return SpecViolation(
            "response", found.api.name, method.upper(), path, found.template, status, tuple(messages), malformed
        )

    def validate_requests_response(self, response: Any) -> list[SpecViolation]:
        """Check a ``requests.Response`` and the request that produced it (for tests using ``requests``)."""
        prepared = response.request
        parts = urlsplit(prepared.url)
        body = prepared.body
        if isinstance(body, str):
            body = body.encode("utf-8")
        violations: list[SpecViolation] = []
        found_request = self.validate_request(
            prepared.method or "GET",
            parts.path,
            parse_qsl(parts.query, keep_blank_values=True),
            prepared.headers,
            body,
            prepared.headers.get("Content-Type", ""),
        )
        if found_request is not None:
            violations.append(found_request)
        found_response = self.validate_response(
            prepared.method or "GET",
            parts.path,
            response.status_code,
            response.content,
            response.headers.get("Content-Type", ""),
            response.headers,
        )
        if found_response is not None:
            violations.append(found_response)
        return violations


def _is_attachment_upload(found: PathMatch, method: str) -> bool:
    return found.template.endswith("/Attachments/{FileName}") and method.lower() in {"put", "post"}


def _is_attachment_download(found: PathMatch, method: str) -> bool:
    return "/Attachments/{" in found.template and method.lower() == "get"


def _json_loads(value: bytes | str, **_parameters: str) -> Any:
    return json.loads(value)


def _iter_causes(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _describe_errors(errors: list[Any], ignore_undocumented_status: bool = False) -> tuple[list[str], bool]:
    from openapi_core.templating.responses.exceptions import ResponseNotFound

    messages: list[str] = []
    malformed = False
    for error in errors:
        if ignore_undocumented_status and isinstance(error, ResponseNotFound):
            # The files document only some error statuses; an undocumented status has no schema to break.
            continue
        detail: list[str] = []
        for cause in _iter_causes(error):
            for schema_error in getattr(cause, "schema_errors", None) or []:
                location = "/".join(str(p) for p in schema_error.absolute_path)
                detail.append(f"{location or '<root>'}: {schema_error.message}")
                # A missing property or a read-only one sent anyway is left to Xero's own validation (it
                # answers with ValidationErrors or ignores the field); anything else never parses.
                if schema_error.validator not in {"required", "readOnly"}:
                    malformed = True
        if not detail:
            text = str(error) or type(error).__name__
            detail.append(f"{type(error).__name__}: {text}")
            if "required" not in text.lower() and "missing" not in type(error).__name__.lower():
                malformed = True
        messages.extend(detail)
    return messages, malformed
