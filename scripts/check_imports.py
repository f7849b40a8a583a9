#!/usr/bin/env python3
"""Fails when a Swift file imports a module its target does not declare in Package.swift.

SwiftPM lets a target import any module built before it, so an undeclared edge compiles today
and breaks when the build order changes — and hides a dependency the layer table forbids. Every
`import M` in Sources/T and Tests/T must be T's declared dependency (a target or a product), a
module of the toolchain, or T itself.

    python3 scripts/check_imports.py [PACKAGE_DIR]   (prints each undeclared import; exit 1 if any)
"""
import json
import os
import re
import subprocess
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
# `import X`, `@testable import X`, `import struct X.Y`: the module is the first name after import.
IMPORT = re.compile(r"\s*(?:@testable\s+|@_exported\s+)?import\s+(?:struct\s+|class\s+|enum\s+|func\s+)?"
                    r"([A-Za-z_][A-Za-z0-9_]*)")
TOOLCHAIN = {"Foundation", "Glibc", "Dispatch", "XCTest", "Darwin", "FoundationEssentials", "Synchronization", "os"}


def targets():
    """name -> (directory, declared dependencies) of every target, from SwiftPM's own reading of
    Package.swift (`swift package dump-package`)."""
    dump = json.loads(subprocess.run(["swift", "package", "dump-package"], cwd=ROOT, capture_output=True, text=True,
                                     check=True).stdout)
    found = {}
    for target in dump["targets"]:
        dependencies = {next(iter(d.values()))[0] for d in target["dependencies"]}
        kind = "Tests" if target["type"] == "test" else "Sources"
        found[target["name"]] = (target.get("path") or f"{kind}/{target['name']}", dependencies)
    return found


def main():
    declared = targets()
    module_of = {name.replace("-", "_"): name for name in declared}
    problems = []
    for name, (directory, dependencies) in sorted(declared.items()):
        allowed = {d.replace("-", "_") for d in dependencies} | {name.replace("-", "_")} | TOOLCHAIN
        for folder, _, files in os.walk(os.path.join(ROOT, directory)):
            for file in sorted(f for f in files if f.endswith(".swift")):
                path = os.path.join(folder, file)
                for number, line in enumerate(open(path, encoding="utf-8"), 1):
                    imported = IMPORT.match(line)
                    if imported and imported.group(1) not in allowed:
                        what = "target" if imported.group(1) in module_of else "module"
                        problems.append(f"{os.path.relpath(path, ROOT)}:{number}: imports {imported.group(1)}, which "
                            f"{name} does not declare "
                                        f"(a {what}; add it to the target's dependencies in Package.swift)")
    for problem in problems:
        print(problem)
    if not declared:
        print("check_imports: found no targets in Package.swift")
        return 1
    print(f"check_imports: {len(declared)} targets, {len(problems)} undeclared imports")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
