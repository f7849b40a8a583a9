"""scripts/check_imports.py on a package of its own: an import of a target that is not declared
fails naming the file, line and module; declared, it passes."""
import os
import subprocess
import sys

from test_parity import REPO

MANIFEST = """// swift-tools-version:6.0
import PackageDescription
let package = Package(name: "probe", targets: [
    .target(name: "Base"),
    .target(name: "Top", dependencies: [{dependencies}]),
])
"""


def check(tmp_path, dependencies):
    (tmp_path / "Package.swift").write_text(MANIFEST.replace("{dependencies}", dependencies))
    for name, text in [("Base", "public let x = 1\n"), ("Top", "import Foundation\nimport Base\nlet y = x\n")]:
        (tmp_path / "Sources" / name).mkdir(parents=True, exist_ok=True)
        (tmp_path / "Sources" / name / f"{name}.swift").write_text(text)
    return subprocess.run([sys.executable, os.path.join(REPO, "scripts", "check_imports.py"), str(tmp_path)],
                          capture_output=True, text=True)


def test_an_undeclared_import_fails_and_a_declared_one_passes(tmp_path):
    undeclared = check(tmp_path, "")
    assert undeclared.returncode == 1
    assert "Sources/Top/Top.swift:2: imports Base, which Top does not declare" in undeclared.stdout
    declared = check(tmp_path, '"Base"')
    assert declared.returncode == 0, declared.stdout + declared.stderr
    assert "0 undeclared imports" in declared.stdout
