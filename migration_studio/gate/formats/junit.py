"""JUnit XML: a test suite per migration (and one for the plan), a test case per check."""

from __future__ import annotations

from xml.etree import ElementTree

from ..result import FAIL, SKIP, WARN, GateCheck, GateResult


def junit(result: GateResult) -> str:
    suites = ElementTree.Element("testsuites", name="predeploycheck")
    groups = [("plan", result.checks)] + [(m.label, m.checks) for m in result.migrations]
    for name, checks in groups:
        suite = ElementTree.SubElement(
            suites,
            "testsuite",
            name=name,
            tests=str(len(checks)),
            failures=str(sum(1 for c in checks if c.status == FAIL)),
            errors="0",
            skipped=str(sum(1 for c in checks if c.status == SKIP)),
        )
        for number, check in enumerate(checks, 1):
            suite.append(_case(name, number, check))
    suites.set("tests", str(sum(int(s.get("tests", 0)) for s in suites)))
    suites.set("failures", str(sum(int(s.get("failures", 0)) for s in suites)))
    ElementTree.indent(suites)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        + ElementTree.tostring(suites, encoding="unicode")
        + "\n"
    )


def _case(suite: str, number: int, check: GateCheck) -> ElementTree.Element:
    name = f"{number:02d} {check.name}" + (f" {check.rule}" if check.rule else "")
    case = ElementTree.Element("testcase", classname=suite, name=name)
    if check.status == FAIL:
        failure = ElementTree.SubElement(case, "failure", message=check.message, type=check.name)
        failure.text = check.message
    elif check.status == SKIP:
        ElementTree.SubElement(case, "skipped", message=check.message)
    else:
        out = ElementTree.SubElement(case, "system-out")
        out.text = ("warning: " if check.status == WARN else "") + check.message
    return case
