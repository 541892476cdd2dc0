"""Fixture files: validated at start-up and by `sandbox fixtures validate`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.engine import DEFAULT_FIXTURES, Engine, Settings
from sandbox.fixtures import FixtureError

BROKEN_TASKS = """
administrations:
  - {id: adm_1, name: One}
tasks:
  - id: "1"
    administration_id: adm_1
    subject: fine
    created_at: "2026-01-01T00:00:00Z"
    updated_at: "2026-01-01T00:00:00Z"
  - id: "2"
    administration_id: adm_1
    created_at: "2026-01-01T00:00:00Z"
    updated_at: "not a time"
  - id: "3"
    administration_id: adm_9
    subject: orphan
    created_at: "2026-01-01T00:00:00Z"
    updated_at: "2026-01-01T00:00:00Z"
"""


@pytest.fixture
def broken_dir(tmp_path: Path) -> Path:
    (tmp_path / "payt.yaml").write_text(BROKEN_TASKS)
    return tmp_path


def test_the_bundled_fixtures_are_valid() -> None:
    engine = Engine(Settings(fixtures_dir=DEFAULT_FIXTURES))
    assert engine.fixtures["payt"]["tasks"]


def test_a_bad_record_fails_start_up_naming_file_record_and_field(broken_dir: Path) -> None:
    with pytest.raises(FixtureError) as raised:
        Engine(Settings(fixtures_dir=broken_dir))
    source = str(broken_dir / "payt.yaml")
    assert raised.value.problems == [
        f"{source}: tasks[1] (id='2'): field 'subject': subject is missing",
        f"{source}: tasks[1] (id='2'): field 'updated_at': updated_at is invalid: "
        '"not a time" is not a valid date-time',
    ]


def test_references_are_checked_once_records_are_valid(tmp_path: Path) -> None:
    fixed = BROKEN_TASKS.replace(
        '    created_at: "2026-01-01T00:00:00Z"\n    updated_at: "not a time"',
        '    subject: fixed\n    created_at: "2026-01-01T00:00:00Z"\n    updated_at: "2026-01-01T00:00:00Z"',
    )
    (tmp_path / "payt.yaml").write_text(fixed)
    with pytest.raises(FixtureError) as raised:
        Engine(Settings(fixtures_dir=tmp_path))
    assert raised.value.problems == [
        f"{tmp_path / 'payt.yaml'}: tasks[2] (id='3'): field 'administration_id': no administration 'adm_9'"
    ]


def test_the_validate_command_prints_every_problem_and_exits_1(broken_dir: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sandbox", "fixtures", "validate", str(broken_dir)], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "tasks[1] (id='2'): field 'subject': subject is missing" in result.stdout
    assert "field 'updated_at'" in result.stdout


def test_the_validate_command_passes_the_bundled_fixtures(tmp_path: Path) -> None:
    shutil.copytree(DEFAULT_FIXTURES, tmp_path / "fixtures")
    result = subprocess.run(
        [sys.executable, "-m", "sandbox", "fixtures", "validate", str(tmp_path / "fixtures")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "records valid" in result.stdout
