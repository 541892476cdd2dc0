"""What every provider spec must document, because the engine can answer it on any operation."""

from __future__ import annotations

import pytest

from sandbox.engine import Engine, Service, Settings
from sandbox.faults import FAULT_STATUSES
from sandbox.spec import Operation

ENGINE = Engine(Settings())
OPERATIONS = [
    pytest.param(service, operation, id=f"{service.provider.name}:{operation.operation_id}")
    for service in ENGINE.services
    if service.provider.authenticated
    for operation in service.spec.operations
]


@pytest.mark.parametrize(("service", "operation"), OPERATIONS)
def test_every_status_the_engine_can_answer_is_documented(service: Service, operation: Operation) -> None:
    engine_statuses = {401, *FAULT_STATUSES}  # a credential is checked, and faults can be injected anywhere
    if operation.body_schemas:
        engine_statuses.add(413)
    if operation.parameters or operation.body_schemas:
        engine_statuses.add(service.provider.error_status_for_invalid())
    undocumented = sorted(status for status in engine_statuses if not operation.response_schema(status)[0])
    assert not undocumented, f"{operation.method} {operation.path} does not document {undocumented}"


def test_every_provider_is_served_from_its_spec() -> None:
    assert sorted(ENGINE.providers) == ["debitura", "invoiced", "payt", "wethod"]
