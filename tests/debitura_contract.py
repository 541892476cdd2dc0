"""Debitura's demo account starts with its debt-collection contract unsigned (POST /cases is 422)."""

from __future__ import annotations

import httpx

SIGN_CONTRACT_TASK = "d36f1e7d-e42c-5694-b5bd-f244e434e049"  # the demo account's SignContract task


def sign_contract(base_url: str, credential: str) -> None:
    """Resolve the SignContract task through the admin API, as the person following its solutionUrl would."""
    response = httpx.post(f"{base_url}/__sandbox/tenants/{credential}/debitura/tasks/{SIGN_CONTRACT_TASK}/resolve")
    assert response.status_code == 200, response.text
