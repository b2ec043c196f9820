"""The scheduler function's ZIP package (``deploy/lambda_package.py``), built once per module from PyPI.

It must fit Lambda's limit (262,144,000 bytes unzipped), hold only extensions built for the python3.11
runtime's glibc 2.26 on x86_64, and import with nothing but itself and the standard library on ``sys.path``.
The builder's size refusal, tag rules, pins and ZIP writer are also checked on their own, without a build.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from itertools import product
from pathlib import Path

import pytest

from tests.aws import MotoServer, fresh_prefix
from tests.deploy.scripts import DEPLOY, ROOT, load

LAMBDA_UNZIPPED_LIMIT = 262_144_000
MAX_GLIBC_MINOR = 26  # Amazon Linux 2, under the python3.11 runtime
LEGACY_MANYLINUX = {"manylinux1": 5, "manylinux2010": 12, "manylinux2014": 17}
SCHEDULER_MODULE = ROOT / "src" / "investai" / "aws_lambda" / "scheduler.py"
REQUIREMENTS = DEPLOY / "requirements"
# what the scheduler's requirement list stands for, importable from the package alone
SCHEDULER_IMPORTS = (
    "investai.config",
    "investai.adapters.aws.dynamodb_jobs",
    "investai.adapters.aws.sqs_dispatch",
    "investai.observability.logging",
    "boto3",
    "aws_lambda_powertools",
    "pydantic_settings",
)

builds = pytest.mark.slow  # needs PyPI (CI reaches it) and a minute at most with a warm pip cache


@dataclass(frozen=True)
class Built:
    package_dir: Path
    zip_path: Path
    report: dict[str, object]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    out = tmp_path_factory.mktemp("lambda")
    answer = subprocess.run(
        [sys.executable, str(DEPLOY / "lambda_package.py"), "--function", "scheduler", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert answer.returncode == 0, f"the build failed:\n{answer.stderr[-6000:]}"
    return Built(out / "scheduler", out / "scheduler.zip", json.loads(answer.stdout))


def loads_on_lambda(tag: str) -> bool:
    """A WHEEL ``Tag`` (or a compressed tag set) that CPython 3.11 on x86_64 with glibc <= 2.26 can load."""
    interpreters, abis, platforms = (part.split(".") for part in tag.split("-"))
    for interpreter, abi, platform in product(interpreters, abis, platforms):
        if platform != "any":
            found = re.fullmatch(r"(manylinux1|manylinux2010|manylinux2014|manylinux_2_(\d+))_x86_64", platform)
            if not found or (int(found[2]) if found[2] else LEGACY_MANYLINUX[found[1]]) > MAX_GLIBC_MINOR:
                continue
        if (abi == "none" and interpreter in ("py3", "cp311")) or (interpreter, abi) == ("cp311", "cp311"):
            return True
        if abi == "abi3" and re.fullmatch(r"cp3\d+", interpreter) and int(interpreter[3:]) <= 11:
            return True
    return False


def owners(package_dir: Path) -> dict[str, Path]:
    """Package-relative POSIX path -> the dist-info folder whose RECORD lists it."""
    owned: dict[str, Path] = {}
    for record in package_dir.glob("*.dist-info/RECORD"):
        with record.open(newline="") as rows:
            owned.update({row[0]: record.parent for row in csv.reader(rows) if row})
    return owned


def wheel_tags(dist_info: Path) -> list[str]:
    lines = (dist_info / "WHEEL").read_text().splitlines()
    return [line.split(":", 1)[1].strip() for line in lines if line.startswith("Tag:")]


def extensions(package_dir: Path) -> list[Path]:
    return sorted(p for p in package_dir.rglob("*") if p.is_file() and re.search(r"\.so(\.\d+)*$", p.name))


def run_isolated(
    package_dir: Path, code: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -I -S``: no site-packages, no PYTHONPATH, no working directory; then ``sys.path`` is the package
    and the standard library's own entries only (the Lambda runtime adds its own boto3 besides: not needed)."""
    prelude = (
        "import sys\n"
        f"package = {str(package_dir)!r}\n"
        "stdlib = [p for p in sys.path if 'site-packages' not in p]\n"
        "sys.path[:] = [package, *stdlib]\n"
    )
    return subprocess.run(
        [sys.executable, "-I", "-S", "-c", prelude + code, *args],
        cwd=package_dir.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1", **(env or {})},
    )


@builds
def test_the_zip_is_written_and_fits_lambdas_unzipped_limit(built: Built) -> None:
    assert built.zip_path.is_file()
    with zipfile.ZipFile(built.zip_path) as archive:
        entries = archive.infolist()
        assert archive.testzip() is None
    unzipped = sum(entry.file_size for entry in entries)
    on_disk = sum(path.stat().st_size for path in built.package_dir.rglob("*") if path.is_file())
    assert unzipped == on_disk == built.report["unzipped_bytes"]
    assert unzipped <= LAMBDA_UNZIPPED_LIMIT
    assert built.report["zipped_bytes"] == built.zip_path.stat().st_size
    names = [entry.filename for entry in entries]
    assert names == sorted(names)
    assert {entry.date_time for entry in entries} == {(1980, 1, 1, 0, 0, 0)}


@builds
def test_every_compiled_extension_comes_from_a_wheel_for_glibc_2_26_x86_64(built: Built) -> None:
    owned = owners(built.package_dir)
    found = extensions(built.package_dir)
    assert found, "the scheduler's dependencies include compiled extensions (pydantic-core, orjson)"
    for extension in found:
        relative = extension.relative_to(built.package_dir).as_posix()
        assert relative in owned, f"{relative} comes from no wheel's RECORD"
        tags = wheel_tags(owned[relative])
        assert any(loads_on_lambda(tag) for tag in tags), f"{relative}: its wheel is tagged {tags}"
        # and the library itself asks for no newer glibc symbol version than the wheel tag promises
        versions = {int(minor) for minor in re.findall(rb"GLIBC_2\.(\d+)", extension.read_bytes())}
        assert max(versions, default=0) <= MAX_GLIBC_MINOR, f"{relative} needs GLIBC_2.{max(versions)}"


@builds
def test_every_wheel_in_the_package_loads_on_the_runtime(built: Built) -> None:
    for dist_info in sorted(built.package_dir.glob("*.dist-info")):
        tags = wheel_tags(dist_info)
        assert any(loads_on_lambda(tag) for tag in tags), f"{dist_info.name}: {tags}"


@builds
def test_byte_code_tests_and_scripts_are_left_out_and_metadata_kept(built: Built) -> None:
    paths = list(built.package_dir.rglob("*"))
    assert not [p for p in paths if p.name in ("__pycache__", "tests") or p.suffix in (".pyc", ".pyo")]
    assert not (built.package_dir / "bin").exists()
    assert not list(built.package_dir.glob("*.dist-info/direct_url.json"))
    names = {p.name.split("-")[0].lower() for p in built.package_dir.glob("*.dist-info")}
    assert {"investai", "boto3", "botocore", "pydantic", "aws_lambda_powertools"} <= names
    assert not names & {"pandas", "numpy", "pyarrow", "duckdb", "scipy", "torch"}
    # each RECORD lists exactly the files kept: nothing of this machine's build paths, so builds repeat byte for byte
    listed = owners(built.package_dir)
    assert all((built.package_dir / path).is_file() for path in listed)
    assert not [path for path in listed if path.endswith("direct_url.json") or path.startswith("..")]


@builds
def test_the_package_alone_imports_what_the_scheduler_needs(built: Built) -> None:
    code = (
        "import importlib\n"
        f"for name in {SCHEDULER_IMPORTS!r}:\n"
        "    module = importlib.import_module(name)\n"
        "    assert module.__file__.startswith(package), (name, module.__file__)\n"
        "heavy = {'pandas', 'numpy', 'pyarrow', 'duckdb', 'scipy'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    answer = run_isolated(built.package_dir, code)
    assert answer.returncode == 0, answer.stderr[-4000:]


@builds
def test_the_scheduler_handler_imports_from_the_package_alone(built: Built) -> None:
    if not SCHEDULER_MODULE.exists():
        pytest.skip(f"{SCHEDULER_MODULE.relative_to(ROOT)} does not exist yet (being written alongside)")
    code = (
        "import investai.aws_lambda.scheduler as scheduler\n"
        "assert scheduler.__file__.startswith(package), scheduler.__file__\n"
        "assert callable(scheduler.handler)\n"
        "for name in list(sys.modules):\n"
        "    module = sys.modules[name]\n"
        "    where = getattr(module, '__file__', None) or ''\n"
        "    assert 'site-packages' not in where, (name, where)\n"
    )
    answer = run_isolated(built.package_dir, code)
    assert answer.returncode == 0, (
        "the scheduler imports something its package lacks; regenerate deploy/requirements/scheduler.txt with"
        f" `python deploy/lambda_package.py --function scheduler --discover`:\n{answer.stderr[-4000:]}"
    )


INVOKE = """
import json
from investai.aws_lambda import scheduler
answer = scheduler.handler(json.loads(sys.argv[1]), None)
heavy = {'pandas', 'numpy', 'pyarrow', 'duckdb', 'scipy', 'sklearn', 'matplotlib'} & set(sys.modules)
files = {name: getattr(module, '__file__', None) or '' for name, module in list(sys.modules.items())}
outside = [name for name, where in files.items() if 'site-packages' in where]
print(json.dumps({"answer": answer, "heavy": sorted(heavy), "outside": outside}))
"""


@builds
def test_the_packaged_scheduler_enqueues_a_job_on_dynamodb_and_sqs(
    built: Built, aws_environment: MotoServer, tmp_path: Path
) -> None:
    """The ZIP's own code and libraries (bundled boto3 included) handle an EventBridge event end to end, lazy
    imports and all, against the session's moto server on 127.0.0.1."""
    if not SCHEDULER_MODULE.exists():
        pytest.skip(f"{SCHEDULER_MODULE.relative_to(ROOT)} does not exist yet (being written alongside)")
    from investai.bootstrap.aws import provision
    from investai.config import Settings

    prefix = fresh_prefix()
    provision(Settings(_env_file=None, backend="aws", aws_resource_prefix=prefix))
    event = json.loads((ROOT / "tests" / "data" / "lambda_events" / "eventbridge_scheduled.json").read_text())
    event["resources"] = [f"arn:aws:events:us-east-1:123456789012:rule/{prefix}-schedule-maintenance"]
    env = {
        **aws_environment.environment,
        "INVESTAI_PROFILE": "prod",
        "INVESTAI_AWS_RESOURCE_PREFIX": prefix,
        "INVESTAI_DATA_DIR": str(tmp_path / "var"),
        "INVESTAI_AWS_DYNAMODB_ROLE_ARN": "arn:aws:iam::123456789012:role/InvestmentAI-DynamoDB-AccessRole",
    }
    answer = run_isolated(built.package_dir, INVOKE, json.dumps(event), env=env)
    assert answer.returncode == 0, answer.stderr[-4000:]
    report = json.loads(answer.stdout.strip().splitlines()[-1])
    assert report["answer"]["schedule"] == "maintenance"
    assert report["heavy"] == []
    assert report["outside"] == []
    items = aws_environment.client("dynamodb").scan(TableName=f"{prefix}-jobs")["Items"]
    assert [item for item in items if item["pk"]["S"].startswith("job#")], "no job was written"


def test_the_zip_writer_is_deterministic(tmp_path: Path) -> None:
    builder = load("lambda_package")
    package = tmp_path / "package"
    (package / "pkg" / "sub").mkdir(parents=True)
    (package / "pkg" / "__init__.py").write_text("")
    (package / "pkg" / "sub" / "b.py").write_text("B = 2\n")
    (package / "pkg" / "a.so").write_bytes(b"\x7fELF" + bytes(100))
    (package / "pkg" / "a.so").chmod(0o755)
    first, second = tmp_path / "one.zip", tmp_path / "two.zip"
    builder.write_zip(package, first)
    (package / "pkg" / "sub" / "b.py").touch()  # a newer mtime changes nothing
    builder.write_zip(package, second)
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        infos = {info.filename: info for info in archive.infolist()}
    assert list(infos) == ["pkg/__init__.py", "pkg/a.so", "pkg/sub/b.py"]
    assert (infos["pkg/a.so"].external_attr >> 16) & 0o777 == 0o755
    assert (infos["pkg/sub/b.py"].external_attr >> 16) & 0o777 == 0o644


def test_a_package_above_the_limit_or_for_another_platform_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    builder = load("lambda_package")
    report = {"function": "full", "unzipped_bytes": LAMBDA_UNZIPPED_LIMIT + 1, "limit_bytes": LAMBDA_UNZIPPED_LIMIT}
    assert builder.check(report, []) == builder.EXIT_TOO_LARGE
    assert "above Lambda's limit of 262,144,000 bytes" in capsys.readouterr().err
    assert builder.check(report, [], enforce_limit=False) == 0
    fits = {**report, "unzipped_bytes": LAMBDA_UNZIPPED_LIMIT}
    assert builder.check(fits, []) == 0
    assert builder.check(fits, ["numpy (cp311-cp311-manylinux_2_28_x86_64)"]) == builder.EXIT_INCOMPATIBLE
    assert "numpy" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("tag", "loads"),
    [
        ("cp311-cp311-manylinux_2_17_x86_64", True),
        ("cp311-cp311-manylinux2014_x86_64", True),
        ("cp311-cp311-manylinux_2_26_x86_64", True),
        ("cp311-cp311-manylinux_2_28_x86_64", False),
        ("cp39-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64", True),
        ("cp312-cp312-manylinux_2_17_x86_64", False),
        ("cp311-cp311-manylinux_2_17_aarch64", False),
        ("cp311-cp311-musllinux_1_2_x86_64", False),
        ("py3-none-any", True),
        ("py2.py3-none-any", True),
    ],
)
def test_the_builder_and_this_test_agree_on_which_wheels_load(tag: str, loads: bool) -> None:
    assert loads_on_lambda(tag) is loads
    assert load("lambda_package").tag_fits(tag, MAX_GLIBC_MINOR) is loads


def test_the_builder_asks_pip_for_every_tag_up_to_glibc_2_26_and_none_newer() -> None:
    platforms = load("lambda_package").platform_tags(MAX_GLIBC_MINOR)
    assert {"manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_26_x86_64"} <= set(platforms)
    assert not [tag for tag in platforms if re.search(r"_2_(2[7-9]|[3-9]\d)_", tag)]


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        found = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line.strip())
        if found:
            pins[re.sub(r"[-_.]+", "-", found[1]).lower()] = found[2]
    return pins


def test_the_lambda_pins_do_not_contradict_the_project_pins_and_cover_every_requirement() -> None:
    project, lambda_only = _pins(ROOT / "constraints.txt"), _pins(REQUIREMENTS / "lambda-constraints.txt")
    contradictions = {name: (project[name], pin) for name, pin in lambda_only.items() if project.get(name, pin) != pin}
    assert not contradictions, f"lambda-constraints.txt contradicts constraints.txt (drop its pin): {contradictions}"
    pinned = {**lambda_only, **project}
    for requirements in sorted(REQUIREMENTS.glob("*.txt")):
        if requirements.name == "lambda-constraints.txt":
            continue
        for line in requirements.read_text().splitlines():
            name = re.sub(r"[-_.]+", "-", line.split("#")[0].strip()).lower()
            assert not name or name in pinned, f"{requirements.name}: {name} is pinned nowhere"
