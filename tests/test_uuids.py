"""The fast name-based UUIDs are the standard library's."""

from __future__ import annotations

import random
import uuid

import pytest

from sandbox.uuids import uuid5_hex, uuid5_text


def test_uuid5_text_and_hex_are_the_standard_librarys() -> None:
    rng = random.Random(5)
    namespaces = [uuid.NAMESPACE_URL, uuid.NAMESPACE_DNS, uuid.UUID(int=0), uuid.UUID(int=(1 << 128) - 1)]
    names = ["", "cases:1", "debtor:DE:debtor gmbh", "é ñ 日本", "x" * 1000]
    names += ["".join(chr(rng.randrange(32, 0x2FFF)) for _ in range(rng.randrange(40))) for _ in range(500)]
    for namespace in namespaces:
        for name in names:
            expected = uuid.uuid5(namespace, name)
            assert uuid5_text(namespace, name) == str(expected)
            assert uuid5_hex(namespace, name) == expected.hex


def test_a_name_that_is_not_unicode_is_refused_as_the_standard_library_refuses_it() -> None:
    with pytest.raises(UnicodeEncodeError):
        uuid.uuid5(uuid.NAMESPACE_URL, "\ud800")
    with pytest.raises(UnicodeEncodeError):
        uuid5_text(uuid.NAMESPACE_URL, "\ud800")
