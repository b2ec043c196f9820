#!/usr/bin/env python3
"""Build a Lambda ZIP package from wheels only, for the python3.11 runtime (Amazon Linux 2, glibc 2.26, x86_64).

    python deploy/lambda_package.py --function scheduler --out build/lambda
    python deploy/lambda_package.py --function full --report-only        # what the whole AWS set would weigh
    python deploy/lambda_package.py --function scheduler --discover      # what the handler really imports

The scheduler function ships as a ZIP: the project (installed with ``--no-deps``) plus what it imports
(``deploy/requirements/scheduler.txt``), pinned by ``constraints.txt`` and ``deploy/requirements/
lambda-constraints.txt``. pip resolves for the target, never for this machine: ``--only-binary=:all:``,
``--implementation cp``, ``--python-version 3.11`` and one ``--platform`` per manylinux tag a glibc 2.26 system
can load (pip does not expand ``manylinux_2_28`` to older tags, so every accepted tag is listed). The API and
processing functions need the whole data stack (758 MB unzipped) and ship as container images instead
(``deploy/Dockerfile.lambda``); ``--function full --report-only`` measures that set for the record.

The ZIP is deterministic (sorted entries, fixed timestamps and modes) and refused, with a non-zero exit, above
Lambda's limit of 262,144,000 bytes unzipped (function and layers together). Byte code, ``__pycache__``,
``tests`` folders and console scripts are left out; ``*.dist-info`` folders stay (metadata, licences). A JSON
report goes to standard output and next to the ZIP.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "deploy" / "requirements"
CONSTRAINTS = (ROOT / "constraints.txt", REQUIREMENTS / "lambda-constraints.txt")
LAMBDA_UNZIPPED_LIMIT = 262_144_000
PYTHON_VERSION = "3.11"
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
STRIPPED_DIRS = frozenset({"__pycache__", "tests"})
STRIPPED_SUFFIXES = (".pyc", ".pyo")
STRIPPED_NAMES = frozenset({"direct_url.json"})  # holds this machine's build path
LEGACY_MANYLINUX = {"manylinux1": 5, "manylinux2010": 12, "manylinux2014": 17}
EXIT_TOO_LARGE = 2
EXIT_INCOMPATIBLE = 3
EXIT_NO_MODULE = 4


@dataclass(frozen=True)
class Target:
    """What one build installs, for which glibc, and whether it becomes a ZIP."""

    name: str
    requirements: tuple[str, ...]
    extras: str
    max_glibc_minor: int
    zip: bool
    handler_module: str | None = None


TARGETS = {
    "scheduler": Target(
        "scheduler", ("scheduler.txt",), "", 26, zip=True, handler_module="investai.aws_lambda.scheduler"
    ),
    # the container images' set (python:3.11-slim-bookworm, glibc 2.36): measured, never zipped
    "full": Target("full", ("lambda-image.txt",), "aws", 36, zip=False),
}
HANDLER_MODULES = {
    "scheduler": "investai.aws_lambda.scheduler",
    "api": "investai.aws_lambda.api",
    "processing": "investai.aws_lambda.processing",
}


def platform_tags(max_glibc_minor: int) -> list[str]:
    """Every x86_64 manylinux tag a system with glibc 2.``max_glibc_minor`` can load, legacy aliases included."""
    legacy = [f"{alias}_x86_64" for alias, minor in LEGACY_MANYLINUX.items() if minor <= max_glibc_minor]
    return legacy + [f"manylinux_2_{minor}_x86_64" for minor in range(5, max_glibc_minor + 1)]


def tag_fits(tag: str, max_glibc_minor: int, python_minor: int = 11) -> bool:
    """Whether a wheel tag (``cp311-cp311-manylinux_2_17_x86_64``, ``py3-none-any``, ...) loads on CPython
    3.``python_minor`` on x86_64 Linux with glibc 2.``max_glibc_minor``. Compressed tag sets
    (``cp39-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64``, as some build backends write them) fit when one
    of their expansions does."""
    interpreters, abis, platforms = (part.split(".") for part in tag.split("-"))
    return any(
        _single_tag_fits(interpreter, abi, platform, max_glibc_minor, python_minor)
        for interpreter in interpreters
        for abi in abis
        for platform in platforms
    )


def _single_tag_fits(interpreter: str, abi: str, platform: str, max_glibc_minor: int, python_minor: int) -> bool:
    if platform != "any":
        found = re.fullmatch(r"(manylinux1|manylinux2010|manylinux2014|manylinux_2_(\d+))_x86_64", platform)
        if found is None:
            return False
        minor = int(found.group(2)) if found.group(2) else LEGACY_MANYLINUX[found.group(1)]
        if minor > max_glibc_minor:
            return False
    if abi == "none" and interpreter.startswith(("py3", "py2.py3")):
        return True
    if abi == "abi3":
        return interpreter.startswith("cp3") and int(interpreter[3:]) <= python_minor
    return interpreter == f"cp3{python_minor}" and abi == f"cp3{python_minor}"


def pip_command(target: Target, dest: Path, *args: str) -> list[str]:
    platforms = [flag for tag in platform_tags(target.max_glibc_minor) for flag in ("--platform", tag)]
    constraints = [flag for path in CONSTRAINTS for flag in ("-c", str(path))]
    return [
        sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--quiet",
        "--no-compile", "--no-warn-script-location", "--target", str(dest), "--only-binary=:all:",
        "--implementation", "cp", "--python-version", PYTHON_VERSION, *platforms, *constraints, *args,
    ]  # fmt: skip


def run(command: Sequence[str]) -> None:
    print("+ " + " ".join(command), file=sys.stderr, flush=True)
    subprocess.run(command, check=True, cwd=ROOT)


def build_project_wheel(work: Path) -> Path:
    wheels = work / "wheel"
    run([sys.executable, "-m", "pip", "wheel", "--disable-pip-version-check", "--quiet", "--no-deps",
         "-w", str(wheels), str(ROOT)])  # fmt: skip
    return next(wheels.glob("investai-*.whl"))


def install(target: Target, package_dir: Path, work: Path) -> None:
    """pip install the target's requirements, then the project, into ``package_dir`` (fresh)."""
    wheel = build_project_wheel(work)
    requirements = [flag for name in target.requirements for flag in ("-r", str(REQUIREMENTS / name))]
    if target.extras:  # the whole set: the project with its dependencies
        run(pip_command(target, package_dir, f"{wheel}[{target.extras}]", *requirements))
        return
    run(pip_command(target, package_dir, *requirements))
    project = work / "project"
    run(pip_command(target, project, "--no-deps", str(wheel)))
    for entry in project.iterdir():
        if entry.name != "bin":
            shutil.move(str(entry), package_dir / entry.name)


def strip(package_dir: Path) -> None:
    """Leave out byte code, test folders, console scripts and build-machine paths; keep dist-info."""
    shutil.rmtree(package_dir / "bin", ignore_errors=True)  # console scripts, with this machine's shebang
    for path in sorted(package_dir.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and path.name in STRIPPED_DIRS:
            shutil.rmtree(path)
        elif path.is_file() and (path.suffix in STRIPPED_SUFFIXES or path.name in STRIPPED_NAMES):
            path.unlink()


def prune_records(package_dir: Path) -> None:
    """Drop from each RECORD the rows of files left out (byte code, scripts, ``direct_url.json`` with its
    build-path hash): the metadata stays true to the package, and the same inputs give the same bytes."""
    for record in package_dir.glob("*.dist-info/RECORD"):
        with record.open(newline="") as lines:
            rows = [row for row in csv.reader(lines) if row]
        kept = [row for row in rows if not row[0].startswith("..") and (package_dir / row[0]).is_file()]
        kept += [row for row in rows if row[0].endswith(".dist-info/RECORD")]  # lists itself, without a hash
        with record.open("w", newline="") as lines:
            csv.writer(lines, lineterminator="\n").writerows(dict.fromkeys(map(tuple, kept)))


def files_of(package_dir: Path) -> list[Path]:
    """Every regular file, sorted by its POSIX path inside the package (the ZIP's order)."""
    found = [path for path in package_dir.rglob("*") if path.is_file() and not path.is_symlink()]
    return sorted(found, key=lambda path: path.relative_to(package_dir).as_posix())


def owners(package_dir: Path) -> dict[str, str]:
    """Package-relative POSIX path -> the distribution whose RECORD lists it."""
    owned: dict[str, str] = {}
    for record in package_dir.glob("*.dist-info/RECORD"):
        name = distribution_name(record.parent)
        with record.open(newline="") as lines:
            for row in csv.reader(lines):
                if row and not row[0].startswith(".."):
                    owned[row[0]] = name
    return owned


def distribution_name(dist_info: Path) -> str:
    metadata = dist_info / "METADATA"
    if metadata.is_file():
        for line in metadata.read_text(errors="replace").splitlines():
            if line.startswith("Name:"):
                return line.split(":", 1)[1].strip()
    return dist_info.name.split("-")[0]


def wheel_tags(package_dir: Path) -> dict[str, list[str]]:
    """Distribution -> the ``Tag:`` lines of its dist-info ``WHEEL`` file."""
    tags: dict[str, list[str]] = {}
    for wheel in package_dir.glob("*.dist-info/WHEEL"):
        lines = wheel.read_text().splitlines()
        found = [line.split(":", 1)[1].strip() for line in lines if line.startswith("Tag:")]
        tags[distribution_name(wheel.parent)] = found
    return tags


def incompatible(package_dir: Path, max_glibc_minor: int) -> list[str]:
    """Distributions none of whose wheel tags loads on the target (nothing when every wheel fits)."""
    return sorted(
        f"{name} ({', '.join(tags) or 'no Tag line'})"
        for name, tags in wheel_tags(package_dir).items()
        if not any(tag_fits(tag, max_glibc_minor) for tag in tags)
    )


def write_zip(package_dir: Path, destination: Path) -> None:
    """A ZIP whose bytes depend only on the files: sorted entries, a fixed timestamp, 0644/0755 modes."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in files_of(package_dir):
            info = zipfile.ZipInfo(path.relative_to(package_dir).as_posix(), date_time=ZIP_TIMESTAMP)
            info.create_system = 3  # Unix, so the modes below apply
            mode = 0o755 if path.stat().st_mode & stat.S_IXUSR else 0o644
            info.external_attr = (stat.S_IFREG | mode) << 16
            archive.writestr(info, path.read_bytes(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    partial.replace(destination)


def measure(package_dir: Path, function: str) -> dict[str, Any]:
    files = files_of(package_dir)
    owned = owners(package_dir)
    by_distribution: Counter[str] = Counter()
    for path in files:
        owner = owned.get(path.relative_to(package_dir).as_posix(), "(not in any RECORD)")
        by_distribution[owner] += path.stat().st_size
    unzipped = sum(by_distribution.values())
    return {
        "function": function,
        "files": len(files),
        "unzipped_bytes": unzipped,
        "unzipped_mb": round(unzipped / 1e6, 1),
        "limit_bytes": LAMBDA_UNZIPPED_LIMIT,
        "headroom_bytes": LAMBDA_UNZIPPED_LIMIT - unzipped,
        "top_packages": [{"name": name, "bytes": size} for name, size in by_distribution.most_common(10)],
    }


def build(target: Target, out: Path, *, report_only: bool) -> tuple[dict[str, Any], int]:
    """Install, strip, check and (unless ``report_only``) zip; the report and the exit code."""
    started = time.monotonic()
    package_dir = out / target.name
    shutil.rmtree(package_dir, ignore_errors=True)
    package_dir.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="lambda-package-") as work:
        install(target, package_dir, Path(work))
    installed = sum(path.stat().st_size for path in files_of(package_dir))
    strip(package_dir)
    prune_records(package_dir)
    report = measure(package_dir, target.name)
    report["installed_bytes_before_strip"] = installed
    report["target"] = f"cp311 x86_64, manylinux up to glibc 2.{target.max_glibc_minor}"
    report["package_dir"] = str(package_dir)
    code = check(report, incompatible(package_dir, target.max_glibc_minor), enforce_limit=not report_only)
    if target.zip and not report_only and code == 0:
        zip_path = out / f"{target.name}.zip"
        write_zip(package_dir, zip_path)
        report.update(zip=str(zip_path), zipped_bytes=zip_path.stat().st_size)
    report["build_seconds"] = round(time.monotonic() - started, 1)
    return report, code


def check(report: dict[str, Any], wrong_platform: Iterable[str], *, enforce_limit: bool = True) -> int:
    """0, or the exit code of the first refusal (with the reason on standard error)."""
    wrong = list(wrong_platform)
    if wrong:
        print(f"refused: wheels that do not load on {report.get('target', 'the target')}: {wrong}", file=sys.stderr)
        return EXIT_INCOMPATIBLE
    if enforce_limit and report["unzipped_bytes"] > report["limit_bytes"]:
        print(
            f"refused: {report['function']} is {report['unzipped_bytes']:,} bytes unzipped, above Lambda's limit of"
            f" {report['limit_bytes']:,} bytes (function and layers together); ship it as a container image",
            file=sys.stderr,
        )
        return EXIT_TOO_LARGE
    return 0


DISCOVER = """
import importlib, importlib.metadata, json, sys
before = set(sys.modules)  # what the interpreter and site (.pth files) loaded: not the handler's
importlib.import_module(sys.argv[1])
names = importlib.metadata.packages_distributions()
loaded = {module.partition(".")[0] for module in set(sys.modules) - before}
found = {dist for module in loaded for dist in names.get(module, [])}
print(json.dumps(sorted(found - {"investai"}, key=str.lower)))
"""


def discover(function: str) -> int:
    """Print the distributions importing the handler module loads (in a fresh interpreter of this environment).

    The list is a starting point for ``deploy/requirements/<function>.txt``, not the file itself: it also names
    optional imports a library takes only when they happen to be installed here (structlog takes rich), and
    misses what the code imports lazily, on first use (boto3 for its clients). The import test in
    ``tests/deploy/test_lambda_package.py`` decides, against the package alone."""
    module = HANDLER_MODULES[function]
    answer = subprocess.run([sys.executable, "-c", DISCOVER, module], capture_output=True, text=True, check=False)
    if answer.returncode != 0:
        print(f"cannot import {module}:\n{answer.stderr.strip()}", file=sys.stderr)
        return EXIT_NO_MODULE
    print(f"# what importing {module} loads (python deploy/lambda_package.py --function {function} --discover)")
    print("\n".join(json.loads(answer.stdout)))
    return 0


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--function", required=True, choices=sorted({*TARGETS, *HANDLER_MODULES}))
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "lambda", help="default: build/lambda")
    parser.add_argument("--report-only", action="store_true", help="measure; write no ZIP, refuse nothing by size")
    parser.add_argument("--discover", action="store_true", help="list the distributions the handler imports")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    if args.discover:
        return discover(args.function)
    target = TARGETS.get(args.function)
    if target is None:
        print(f"{args.function} ships as a container image (deploy/Dockerfile.lambda), not a ZIP", file=sys.stderr)
        return 1
    if not target.zip and not args.report_only:
        print(f"--function {target.name} is measured only: add --report-only", file=sys.stderr)
        return 1
    report, code = build(target, args.out.resolve(), report_only=args.report_only)
    text = json.dumps(report, indent=2)
    (args.out.resolve() / f"{target.name}.json").write_text(text + "\n")
    print(text)
    return code


if __name__ == "__main__":
    sys.exit(main())
