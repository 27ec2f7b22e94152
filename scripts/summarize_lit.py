"""Prints the closing line of the test command from lit's JSON results.

Usage: summarize_lit.py <results.json> [lit-output.txt] [--junit pytest.xml]

Prints "N passed, N failed, N skipped" (lit tests, GoogleTest unit tests
and, with --junit, the pytest tests of pytest's JUnit XML report summed;
XFAIL counts as passed, UNSUPPORTED as skipped; a --junit report that is
missing or unreadable counts as one failure) and exits non-zero if anything
failed or no test ran at all. lit leaves skipped GoogleTest tests
out of its JSON; with lit's printed output, the discovered tests missing
from the JSON count as skipped.
"""

import json
import re
import sys
import xml.etree.ElementTree as ET

PASSED = {"PASS", "XFAIL", "FLAKYPASS"}
SKIPPED = {"UNSUPPORTED", "SKIPPED", "EXCLUDED"}


def junit_counts(path):
    """(passed, failed, skipped) of a pytest --junitxml report."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        print("error: no pytest results (%s)" % e, file=sys.stderr)
        return 0, 1, 0
    passed = failed = skipped = 0
    for case in root.iter("testcase"):
        tags = {child.tag for child in case}
        if tags & {"failure", "error"}:
            failed += 1
        elif "skipped" in tags:
            skipped += 1
        else:
            passed += 1
    return passed, failed, skipped


def main():
    args = sys.argv[1:]
    junit = None
    if "--junit" in args:
        i = args.index("--junit")
        junit = args[i + 1]
        del args[i:i + 2]
    sys.argv[1:] = args
    try:
        with open(sys.argv[1]) as f:
            tests = json.load(f)["tests"]
    except (OSError, ValueError, KeyError) as e:
        print("error: no lit results (%s)" % e, file=sys.stderr)
        print("0 passed, 1 failed")
        return 1
    passed = sum(t["code"] in PASSED for t in tests)
    skipped = sum(t["code"] in SKIPPED for t in tests)
    failed = len(tests) - passed - skipped
    if len(sys.argv) > 2:
        with open(sys.argv[2], errors="replace") as f:
            found = re.findall(r"Total Discovered Tests: (\d+)", f.read())
        if found:
            skipped += max(0, int(found[-1]) - len(tests))
    if junit:
        p, f, k = junit_counts(junit)
        passed, failed, skipped = passed + p, failed + f, skipped + k
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
