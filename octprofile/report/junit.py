"""Check results as JUnit XML, the test report CI systems read: one testsuite, one testcase per model and α."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from octprofile.results import CheckResult, counters_ran

SUITE = "octprofile check"
# ElementTree escapes markup (& < > ") but writes characters XML 1.0 forbids, e.g. control characters in a
# custom model's path, as they are, which no reader accepts
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _values(result: CheckResult) -> str:
    """What was compared, for the testcase's system-out."""
    given = ", ".join(f"{name} {value:,}" for name, value in result.counter_macs.items())
    dropped = f" − {result.params_dropped:,} dropped = {result.params_expected:,}" if result.params_dropped else ""
    cross = (f"\ncross-checked: {', '.join(result.cross_checks) or 'none'}"
             + (f"; not cross-checked: {result.cross_checks_skipped}" if result.cross_checks_skipped else ""))
    return (f"params: oct {result.params_oct:,}, vanilla {result.params_vanilla:,}{dropped}\n"
            f"MACs (FlopCounterMode: FLOPs ÷ 2): {given}\ndesign: {result.design}"
            + (f"; input size: {result.input_size}" if result.input_size else "") + cross)


def check_junit(results: Sequence[CheckResult]) -> str:
    """The JUnit XML document: failures carry the failure text as their message and body."""
    counts = dict(tests=str(len(results)), failures=str(sum(not r.ok for r in results)), errors="0", skipped="0")
    root = ET.Element("testsuites", name=SUITE, **counts)
    suite = ET.SubElement(root, "testsuite", name=SUITE, **counts)
    properties = ET.SubElement(suite, "properties")
    ET.SubElement(properties, "property", name="counters", value=",".join(counters_ran(results)))
    cross_checks = dict.fromkeys(name for r in results for name in r.cross_checks)
    ET.SubElement(properties, "property", name="cross_checks", value=",".join(cross_checks))
    for result in results:
        case = ET.SubElement(suite, "testcase", classname=_xml(result.model), name=_xml(result.label))
        if not result.ok:
            failure = ET.SubElement(case, "failure", message=_xml("; ".join(result.failures)), type="CheckFailure")
            failure.text = _xml("\n".join(result.failures))
        ET.SubElement(case, "system-out").text = _xml(_values(result))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
