"""Time the dashboard's Records view with 10,000 records in one collection (timings reported, not asserted).

    python -m tests.dashboard_timing

Serves the sandbox on a real uvicorn server, loads 10,000 Payt tasks into one
tenant, and prints the median time of the admin API's page and search calls
and of headless Chromium going from navigation to the table shown.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import httpx

from sandbox.app import create_app
from sandbox.testing import running_server
from tests.browser_support import browser_missing, chromium_path

RECORDS = 10_000
DASH = "\N{EN DASH}"


def median_ms(action: Callable[[], object], rounds: int) -> tuple[float, float]:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), max(times)


def load_tasks(url: str, credential: str) -> None:
    tasks = [
        {
            "id": str(100_000 + n),
            "administration_id": "adm_1001",
            "subject": f"Bulk task {n}",
            "created_at": "2026-11-20T09:00:00Z",
            "updated_at": "2026-11-20T09:00:00Z",
        }
        for n in range(RECORDS)
    ]
    for start in range(0, RECORDS, 2000):
        chunk = {"payt": {"tasks": tasks[start : start + 2000]}}
        httpx.post(f"{url}/__sandbox/tenants/{credential}/fixtures", json=chunk).raise_for_status()


def main() -> None:
    with running_server(create_app()) as url, httpx.Client(base_url=f"{url}/__sandbox") as admin:
        load_tasks(url, "timing")
        listing = "/tenants/timing/records/payt/tasks"
        for label, params in [("last page", {"offset": RECORDS - 50}), ("search", {"q": f"bulk task {RECORDS - 1}"})]:
            median, worst = median_ms(lambda params=params: admin.get(listing, params=params).raise_for_status(), 20)
            print(f"API listRecords, {label}: median {median:.1f} ms, max {worst:.1f} ms")
        if browser_missing():
            print(f"browser: not measured ({browser_missing()})")
            return
        from playwright.sync_api import sync_playwright

        total = RECORDS + 6  # the fixture's own six tasks
        views = [
            ("first page", "", f"1{DASH}50 of {total}"),
            ("last page", f"?offset={RECORDS - 50}", f"{RECORDS - 49}{DASH}{RECORDS} of {total}"),
            ("search", f"?q=bulk%20task%20{RECORDS - 1}", f"1{DASH}1 of 1 matching"),
        ]
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(chromium_path()))
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            for label, query, shown in views:

                def visit(query: str = query, shown: str = shown) -> None:
                    page.goto("about:blank")
                    page.goto(f"{url}/__sandbox/ui/#/t/timing/records/payt/tasks{query}")
                    page.get_by_text(shown).wait_for()

                median, worst = median_ms(visit, 10)
                print(f"browser, {label}: median {median:.0f} ms, max {worst:.0f} ms (navigation to the table shown)")
            browser.close()


if __name__ == "__main__":
    main()
