"""A journal entry's reply lives only as long as something can read it (sandbox.journal)."""

from __future__ import annotations

from typing import Any

from sandbox.journal import Journal, ResponseBudget


def entry(journal: Journal) -> dict[str, Any]:
    return {"id": journal.next_id(), "response": object()}


def test_an_entry_that_leaves_its_journal_lets_its_reply_go_though_the_budget_has_room() -> None:
    budget = ResponseBudget(100)
    journal = Journal(2, budget)
    first, second, third = entry(journal), entry(journal), entry(journal)
    for recorded in (first, second, third):
        journal.record(recorded)
    assert first["response"] is None  # out of the journal: the budget holds the entry, not its reply
    assert second["response"] is not None and third["response"] is not None


def test_clearing_a_journal_lets_its_replies_go() -> None:
    journal = Journal(10, ResponseBudget(100))
    kept = entry(journal)
    journal.record(kept)
    journal.clear()
    assert kept["response"] is None and len(journal) == 0


def test_a_journal_that_keeps_nothing_keeps_no_reply_in_the_budget() -> None:
    budget = ResponseBudget(100)
    journal = Journal(0, budget)
    nothing = entry(journal)
    journal.record(nothing)
    assert nothing["response"] is None and len(journal) == 0
    other = Journal(1, budget)
    for _ in range(100):
        other.record(entry(other))
    assert len(budget._kept) == 100  # the empty journal's entry took no place in the budget
