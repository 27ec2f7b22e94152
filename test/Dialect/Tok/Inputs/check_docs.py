"""Checks that the generated dialect reference documents every op, attribute
and type with an example.

Usage: check_docs.py <TokDialect.md>

A section is a `### ` heading under `## Operations`, `## Attributes` or
`## Types`; it passes if its text has an "Example" paragraph followed by an
```mlir block. Prints one line per kind and every section that fails.
"""

import re
import sys


def main():
    text = open(sys.argv[1]).read()
    failures = []
    counts = {}
    for kind in ("Operations", "Attributes", "Types"):
        match = re.search(r"^## %s\n(.*?)(?=^## |\Z)" % kind, text, re.M | re.S)
        if not match:
            failures.append("no '## %s' section" % kind)
            continue
        sections = re.split(r"^### ", match.group(1), flags=re.M)[1:]
        counts[kind] = len(sections)
        for section in sections:
            title = section.splitlines()[0]
            if not re.search(r"Example:?\s*\n\s*```mlir\n", section):
                failures.append("%s %s has no example" % (kind, title))
    for kind, n in counts.items():
        print("%s: %d documented" % (kind, n))
    for failure in failures:
        print("MISSING:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
