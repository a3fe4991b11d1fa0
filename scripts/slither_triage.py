"""Compare slither's JSON findings with scripts/slither_triage.toml; exit 1 on any not accepted.

Usage: slither_triage.py REPORT.json TRIAGE.toml (run by scripts/slither).
"""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path
from typing import Any


def identity(finding: dict[str, Any]) -> tuple[str, str | None, str | None]:
    """The detector, and the contract and name of the finding's first element."""
    element = finding["elements"][0] if finding["elements"] else {}
    fields = element.get("type_specific_fields", {})
    parent = fields.get("parent", {})
    contract = parent.get("name") if element.get("type") != "contract" else element.get("name")
    if parent.get("type") == "function":  # a local variable: its function's contract
        contract = parent.get("type_specific_fields", {}).get("parent", {}).get("name")
    return finding["check"], contract, element.get("name")


def accepted(finding: dict[str, Any], entries: list[dict[str, str]]) -> bool:
    check, contract, name = identity(finding)
    for entry in entries:
        if entry["check"] != check:
            continue
        if "contract" in entry and entry["contract"] != contract:
            continue
        if "name" in entry and entry["name"] != name:
            continue
        return True
    return False


def main(report_path: str, triage_path: str) -> int:
    report = json.loads(Path(report_path).read_text())
    if not report.get("success"):
        print(f"slither: analysis failed: {report.get('error')}", file=sys.stderr)
        return 1
    entries = tomllib.loads(Path(triage_path).read_text())["accepted"]
    findings = report.get("results", {}).get("detectors", [])
    open_findings = [f for f in findings if not accepted(f, entries)]
    for finding in open_findings:
        check, contract, name = identity(finding)
        print(f"slither: {finding['impact']} {check} in {contract}.{name}:", file=sys.stderr)
        print("  " + finding["description"].strip().replace("\n", "\n  "), file=sys.stderr)
    print(
        f"slither: {len(findings)} findings, {len(findings) - len(open_findings)} accepted "
        f"in {triage_path}, {len(open_findings)} open"
    )
    return 1 if open_findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
