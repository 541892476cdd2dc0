"""A coverage report (`GET /__sandbox/coverage`) as text, JSON, JUnit XML or HTML, and its gate.

The text form is for a terminal: a line per provider with its totals, then a
line per operation with the statuses calls got and the documented ones none
got. In JUnit XML each operation is a test case that fails when no call hit
it, so a CI server lists the operations a suite never exercised.
"""

from __future__ import annotations

import html
import json
from typing import Any
from xml.etree import ElementTree

MEASURES = ("operations", "statuses")


def below(report: dict[str, Any], threshold: float, measure: str = "operations") -> bool:
    """Whether the report's overall percentage of `measure` is under `threshold`."""
    return report["totals"][f"{measure}_percent"] < threshold


def verdict(report: dict[str, Any], threshold: float, measure: str = "operations") -> str:
    shown = report["totals"][f"{measure}_percent"]
    relation = "below" if below(report, threshold, measure) else "meets"
    return f"coverage of {measure} {shown}% {relation} the required {threshold:g}%"


def render(report: dict[str, Any], form: str) -> str:
    return {"text": as_text, "json": as_json, "junit": as_junit, "html": as_html}[form](report)


def as_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2)


def totals_line(name: str, summary: dict[str, Any]) -> str:
    line = (
        f"{name}: {summary['operations_exercised']}/{summary['operations_total']} operations "
        f"({summary['operations_percent']}%), {summary['statuses_exercised']}/{summary['statuses_total']} "
        f"documented statuses ({summary['statuses_percent']}%), {summary['calls']} calls"
    )
    if summary.get("unmatched"):
        line += f", {summary['unmatched']} matching no operation"
    return line


def statuses_line(operation: dict[str, Any]) -> str:
    if not operation["calls"]:
        return "never called"
    seen = [f"{status}x{count}" for status, count in operation["statuses"].items() if count]
    seen += [f"{status}x{count} (undocumented)" for status, count in operation["undocumented"].items()]
    missing = [status for status, count in operation["statuses"].items() if not count]
    text = "seen " + " ".join(seen)
    return text + (f"; not {' '.join(missing)}" if missing else "; every documented status")


def as_text(report: dict[str, Any]) -> str:
    lines: list[str] = []
    for name, provider in report["providers"].items():
        lines.append(totals_line(name, provider))
        operations = provider["operations"]
        width = max((len(f"{op['method']} {op['path']}") for op in operations.values()), default=0)
        for operation_id, operation in operations.items():
            mark = "+" if operation["calls"] else "-"
            where = f"{operation['method']} {operation['path']}".ljust(width)
            lines.append(f"  {mark} {where}  {operation_id}: {statuses_line(operation)}")
    lines.append(totals_line("total", report["totals"]))
    return "\n".join(lines)


def as_junit(report: dict[str, Any]) -> str:
    totals = report["totals"]
    root = ElementTree.Element(
        "testsuites",
        name="sandbox coverage",
        tests=str(totals["operations_total"]),
        failures=str(totals["operations_total"] - totals["operations_exercised"]),
    )
    for name, provider in report["providers"].items():
        suite = ElementTree.SubElement(
            root,
            "testsuite",
            name=name,
            tests=str(provider["operations_total"]),
            failures=str(provider["operations_total"] - provider["operations_exercised"]),
        )
        for operation_id, operation in provider["operations"].items():
            case = ElementTree.SubElement(
                suite,
                "testcase",
                classname=name,
                name=f"{operation_id} ({operation['method']} {operation['path']})",
            )
            if not operation["calls"]:
                ElementTree.SubElement(case, "failure", message="never called", type="coverage")
            ElementTree.SubElement(case, "system-out").text = statuses_line(operation)
    return ElementTree.tostring(root, encoding="unicode", xml_declaration=True)


def as_html(report: dict[str, Any]) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>Sandbox coverage</title>',
        "<style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:left}"
        ".miss{color:#a00}.hit{color:#060}</style></head><body>",
        "<h1>Sandbox coverage</h1>",
        f"<p>{html.escape(totals_line('total', report['totals']))}</p>",
    ]
    for name, provider in report["providers"].items():
        parts.append(f"<h2>{html.escape(name)}</h2><p>{html.escape(totals_line(name, provider))}</p>")
        parts.append("<table><tr><th>operation</th><th>method</th><th>path</th><th>calls</th><th>statuses</th></tr>")
        for operation_id, operation in provider["operations"].items():
            style = "hit" if operation["calls"] else "miss"
            cells = [operation_id, operation["method"], operation["path"], str(operation["calls"])]
            cells.append(statuses_line(operation))
            row = "".join(f"<td>{html.escape(cell)}</td>" for cell in cells)
            parts.append(f'<tr class="{style}">{row}</tr>')
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)
