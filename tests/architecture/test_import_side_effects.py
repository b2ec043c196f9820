"""Importing any module of the package opens no file, socket, database or process.

A fresh interpreter installs an audit hook (PEP 578) and imports every module. For each audited event
the stack is walked to the innermost frame that is either our code or the import machinery: if our
module-level code (not an import statement it runs) caused the event, it is a side effect at import time.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

PROBE = textwrap.dedent(
    r"""
    import importlib, json, pkgutil, sys

    WATCHED = {"open", "socket.connect", "socket.bind", "sqlite3.connect", "subprocess.Popen",
               "os.mkdir", "os.remove", "os.rename", "os.system", "urllib.Request", "shutil.rmtree"}
    PACKAGE_DIR = sys.argv[1]
    offences = []

    def culprit(frame):
        # our module-level frame that caused this event, if no import statement lies in between
        seen_ours = False
        while frame is not None:
            filename = frame.f_code.co_filename
            if filename.startswith("<frozen importlib"):
                return None
            if filename.startswith(PACKAGE_DIR):
                seen_ours = True
                if frame.f_code.co_name == "<module>":
                    return frame
            elif seen_ours:
                return None
            frame = frame.f_back
        return None

    def benign(event, args):
        # pydantic discovers its plugins through installed packages' metadata the first time a model
        # class is defined: a read of *.dist-info files (or the stdlib zip), not a resource of ours
        if event != "open" or not isinstance(args[0], str):
            return False
        read_only = args[1] in ("r", "rb", None)
        return read_only and (".dist-info/" in args[0] or args[0].endswith(".zip"))

    def hook(event, args):
        if event not in WATCHED or benign(event, args):
            return
        frame = culprit(sys._getframe(1))
        if frame is not None:
            offences.append(f"{frame.f_code.co_filename}:{frame.f_lineno} {event} {str(args)[:120]}")

    import investai
    names = [m.name for m in pkgutil.walk_packages(investai.__path__, investai.__name__ + ".")]
    sys.addaudithook(hook)
    for name in names:
        importlib.import_module(name)
    print(json.dumps({"modules": names, "offences": offences}))
    """
)


def test_importing_every_module_has_no_side_effects() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(SRC / "investai")],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(report["modules"]) > 30, result.stderr
    assert "investai.bootstrap" in report["modules"]
    assert report["offences"] == []


def test_the_probe_catches_a_module_that_opens_a_file(tmp_path: Path) -> None:
    package = tmp_path / "investai_probe_target"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "leaky.py").write_text("handle = open(__file__)\n")
    probe = PROBE.replace("import investai\n", "import investai_probe_target as investai\n")
    result = subprocess.run(
        [sys.executable, "-c", probe, str(package)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=tmp_path,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert any("leaky.py:1 open" in offence for offence in report["offences"])
