"""JUnit XML, the test report CI systems read: one testsuite of test cases, each passed or failed."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

# ElementTree escapes markup (& < > ") but writes characters XML 1.0 forbids, e.g. control characters in a
# custom model's path, as they are, which no reader accepts
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


@dataclass(frozen=True)
class JUnitCase:
    classname: str
    name: str
    failures: Sequence[str]  # empty: passed
    output: str  # what was compared, for the test case's system-out


def junit_xml(suite_name: str, cases: Sequence[JUnitCase], properties: dict[str, str]) -> str:
    """The JUnit XML document: failures carry the failure text as their message and body."""
    counts = dict(tests=str(len(cases)), failures=str(sum(bool(c.failures) for c in cases)), errors="0",
                  skipped="0")
    root = ET.Element("testsuites", name=suite_name, **counts)
    suite = ET.SubElement(root, "testsuite", name=suite_name, **counts)
    listed = ET.SubElement(suite, "properties")
    for name, value in properties.items():
        ET.SubElement(listed, "property", name=name, value=value)
    for case in cases:
        element = ET.SubElement(suite, "testcase", classname=_xml(case.classname), name=_xml(case.name))
        if case.failures:
            failure = ET.SubElement(element, "failure", message=_xml("; ".join(case.failures)), type="CheckFailure")
            failure.text = _xml("\n".join(case.failures))
        ET.SubElement(element, "system-out").text = _xml(case.output)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
