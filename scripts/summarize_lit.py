"""Prints the closing line of the test command from lit's JSON results.

Usage: summarize_lit.py <results.json> [lit-output.txt]

Prints "N passed, N failed, N skipped" (lit tests and GoogleTest unit tests
summed; XFAIL counts as passed, UNSUPPORTED as skipped) and exits non-zero if
anything failed or no test ran at all. lit leaves skipped GoogleTest tests
out of its JSON; with lit's printed output, the discovered tests missing
from the JSON count as skipped.
"""

import json
import re
import sys

PASSED = {"PASS", "XFAIL", "FLAKYPASS"}
SKIPPED = {"UNSUPPORTED", "SKIPPED", "EXCLUDED"}


def main():
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
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
