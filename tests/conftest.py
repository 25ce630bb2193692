"""Shared by every test folder: no real AWS, and the IAM check of every AWS call a function makes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.support.sqs_clock import SqsClock

# No test may reach a real AWS account, whatever the developer's shell holds.
for _name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
    os.environ.pop(_name, None)
os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                   "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"})


@pytest.fixture(autouse=True)
def _no_metrics_carried_between_tests() -> Iterator[None]:
    """Metrics added outside a handler invocation (tests that call logic directly) are never flushed, and
    Powertools publishes a metric's values itself at the 100th: clear them after each test, as a handler does."""
    yield
    from xerosync.observability import metrics

    metrics.clear_metrics()


# moto does not enforce IAM: every AWS call a function makes under the local runner is recorded here and held
# to that function's role as SAM expands the template (local/iam.py). A call the role does not allow fails
# the test that made it, naming the function, the action and the resource; tests/iam checks that every
# granted action was used. Installed before any botocore session exists, so that every client is hooked.
from local import provision as _provision  # noqa: E402
from local.iam import CallRecorder, PolicyChecker, describe  # noqa: E402
from tests.support.iam_usage import whole_tiers, write_record  # noqa: E402

RECORDER = CallRecorder.install()
_provision.LISTENERS.append(RECORDER.provisioned)
CHECKER = PolicyChecker()


# Costs every test paid again without need (each test provisions its own AWS in moto and makes new clients):
# - botocore reads and parses its JSON service models once per session, and each test, each Lambda's cold start
#   and each provisioning makes new sessions; one loader for all of them parses each model once per process
#   (the models are read-only data; one session already shares them across its clients and threads);
# - moto generates a 2048-bit RSA private key for every KMS key, symmetric ones too, where only Sign and Verify
#   of an asymmetric key would use it: a symmetric key gets one key generated once (about 40 ms saved per key,
#   five keys per provisioned stack). The product's keys are all symmetric (template.yaml).
def _share_what_tests_rebuild() -> None:
    import functools

    import botocore.loaders
    import botocore.session
    import moto.kms.models
    from moto.kms.utils import KeySpec

    botocore.session.create_loader = functools.cache(botocore.loaders.create_loader)  # type: ignore[assignment]
    generate = moto.kms.models.generate_private_key
    asymmetric = {KeySpec.RSA_2048, KeySpec.RSA_3072, KeySpec.RSA_4096, *KeySpec.ecc_key_specs(), KeySpec.SM2}

    @functools.cache
    def unused_by_symmetric_keys() -> object:
        return generate(KeySpec.RSA_2048)

    def private_key(key_spec: str) -> object:
        return generate(key_spec) if key_spec in asymmetric else unused_by_symmetric_keys()

    moto.kms.models.generate_private_key = private_key  # type: ignore[assignment]


_share_what_tests_rebuild()


@pytest.fixture(autouse=True)
def _every_aws_call_is_allowed_by_the_functions_role() -> Iterator[None]:
    mark = RECORDER.mark()
    yield
    denied = CHECKER.denied(RECORDER.since(mark))
    if denied:
        pytest.fail("AWS would refuse these calls (the function's role in template.yaml does not allow them):\n"
                    + describe(denied), pytrace=False)


@pytest.fixture
def sqs_clock(monkeypatch: pytest.MonkeyPatch) -> SqsClock:
    """Moves moto's SQS clock on where a test would sleep out a visibility timeout (tests/support/sqs_clock.py).
    Imported here, not at the top: moto's models load after the call recorder is installed."""
    from tests.support.sqs_clock import SqsClock

    return SqsClock().install(monkeypatch)


@pytest.fixture(scope="session")
def aws_calls() -> CallRecorder:
    return RECORDER


@pytest.fixture(scope="session")
def policy_checker() -> PolicyChecker:
    return CHECKER


@pytest.fixture(scope="session")
def whole_suite(request: pytest.FixtureRequest) -> bool:
    return request.config.stash.get(WHOLE_SUITE, False)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Whether this run is the whole suite: only then can it show that every granted action is needed."""
    config = session.config
    session.config.stash[WHOLE_SUITE] = (
        config.args_source == pytest.Config.ArgsSource.TESTPATHS
        and not _selects_by_name(config)
        and "PYTEST_XDIST_WORKER" not in os.environ and not getattr(config.option, "numprocesses", None)
    )


WHOLE_SUITE = pytest.StashKey[bool]()


def _selects_by_name(config: pytest.Config) -> bool:
    return bool(config.option.keyword or config.option.markexpr or getattr(config.option, "lf", False)
                or getattr(config.option, "deselect", None))


# The order in which a parallel run hands out its files (--dist loadfile --no-loadscope-reorder: whole files, in
# collection order, to whichever worker is nearly out of work). A file that starts when the others are nearly done
# ends the run alone: files with a long test (marked ``long``) go first, then the tiers whose files are long (e2e,
# browser), then the integration and unit tiers' many short files, which fill in around them; tests/iam stays last.
_TIER_ORDER = ("e2e", "browser", "integration", "unit")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if getattr(config, "workerinput", None) is None:
        return  # a run in one process keeps pytest's order (unit first: the quickest answer first)
    long_files = {item.path for item in items if item.get_closest_marker("long")}

    def rank(item: pytest.Item) -> tuple[int, int]:
        tier = item.path.relative_to(config.rootpath).parts[1]
        return (0 if item.path in long_files else 1,
                _TIER_ORDER.index(tier) if tier in _TIER_ORDER else len(_TIER_ORDER))

    items.sort(key=rank)  # stable: a file's tests keep their order, and every worker collects the same order


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Each process that ran tests writes which grants its functions used (tests/support/iam_usage.py), so
    that tests/iam can judge a parallel run, or tiers run one by one, as a whole. The pytest-xdist controller
    runs no test and records nothing."""
    config = session.config
    worker = getattr(config, "workerinput", None)
    if worker is None and getattr(config.option, "numprocesses", None):
        return
    tiers = whole_tiers(list(config.args), config.rootpath, _selects_by_name(config))
    if not tiers:
        return
    name = f"{worker['testrunuid']}-{worker['workerid']}" if worker else f"serial-{os.getpid()}"
    passed = exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED) and not session.testsfailed
    write_record(name, tiers, passed, RECORDER, CHECKER)


def pytest_sessionstart(session: pytest.Session) -> None:
    """In CI (CI=true) a run without Xero's OpenAPI files fails before any test, saying what is missing, where
    it was looked for and how to provide it: the emulator's strict mode and the contract tests need them, and a
    CI run that skipped them would pass without checking anything. Locally those tests skip with that text."""
    from emulators.xero.spec import find_spec_dir, in_ci, missing_spec_message

    if in_ci() and find_spec_dir() is None:
        raise pytest.UsageError(f"CI=true and {missing_spec_message()}")
