"""Checks against the providers' own documents: `make conformance REFERENCE=DIR`."""

from __future__ import annotations

import pytest

from conformance.reference import ReferenceDocument, reference_dir


@pytest.fixture(scope="session")
def payt_reference() -> ReferenceDocument:
    return ReferenceDocument(reference_dir() / "payt-openapi.json")


@pytest.fixture(scope="session")
def debitura_reference() -> ReferenceDocument:
    return ReferenceDocument(reference_dir() / "debitura-openapi.json", nullable_refs=True)
