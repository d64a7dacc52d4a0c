"""The package installed as a user installs it: a wheel, a fresh virtual
environment, no checkout on the path.

One wheel is built per session from a copy of the package's sources. Each
check gets its own fresh venv (never the test venv) holding that wheel —
without extras, or with the ``notebook`` extra only — and runs
tests/install_smoke.py with that venv's interpreter from a directory outside
the repository.

Speed: pip resolves against PyPI once; the wheels it picks are kept in a
wheelhouse (``$OVERMIND_LAKE_WHEELHOUSE``, default
``~/.cache/overmind-lake/wheelhouse``, filled through pip's own cache) and
later runs install from it with ``--no-index``. When the package's
dependencies change and the wheelhouse cannot satisfy them, it is topped up
from PyPI and the install retried, so a stale wheelhouse never hides a
missing dependency: only what the wheel's metadata requires is installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SMOKE = Path(__file__).with_name("install_smoke.py")
WHEELHOUSE = Path(os.environ.get("OVERMIND_LAKE_WHEELHOUSE")
                  or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "overmind-lake" / "wheelhouse")
BUILD_REQUIRES = "setuptools>=68"  # [build-system] requires of pyproject.toml


def _pip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args],
                          capture_output=True, text=True, timeout=900)
    if check and proc.returncode:
        raise AssertionError(f"pip {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def _offline_first(args: list[str], needs: list[str]) -> None:
    """``pip *args`` from the wheelhouse alone; if it lacks something, download
    ``needs`` (and their dependencies) from PyPI into it and try again."""
    offline = ["--no-index", "--find-links", str(WHEELHOUSE)]
    WHEELHOUSE.mkdir(parents=True, exist_ok=True)
    if _pip(*args, *offline, check=False).returncode == 0:
        return
    with tempfile.TemporaryDirectory(dir=WHEELHOUSE.parent) as fresh:
        _pip("download", "-d", fresh, *needs)
        for wheel in Path(fresh).iterdir():
            if not wheel.name.startswith("overmind_lake-"):  # the wheel under test is never cached
                os.replace(wheel, WHEELHOUSE / wheel.name)
    _pip(*args, *offline)


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    """The package's wheel, built from a copy of its sources (the checkout stays clean)."""
    work = tmp_path_factory.mktemp("wheel")
    src = work / "overmind-lake"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "overmind_lake", src / "overmind_lake",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = work / "dist"
    _offline_first(["wheel", "--no-deps", "-w", str(out), str(src)], [BUILD_REQUIRES])
    (built,) = out.glob("overmind_lake-*.whl")
    return built


def _venv(tmp_path_factory, wheel: Path, extras: str = "") -> Path:
    """A fresh venv holding ``wheel`` (with ``extras``); returns its interpreter."""
    env = tmp_path_factory.mktemp(f"venv-{extras or 'base'}")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True, timeout=120)
    python = env / "bin" / "python"
    requirement = f"overmind-lake{f'[{extras}]' if extras else ''} @ {wheel.as_uri()}"
    # --no-compile: the interpreter compiles what it imports; pip would compile all of it
    _offline_first(["--python", str(python), "install", "--no-compile", requirement], [requirement])
    return python


@pytest.fixture(scope="session")
def base_python(tmp_path_factory, wheel) -> Path:
    return _venv(tmp_path_factory, wheel)


@pytest.fixture(scope="session")
def notebook_python(tmp_path_factory, wheel) -> Path:
    return _venv(tmp_path_factory, wheel, "notebook")


def _smoke(python: Path, check: str, work: Path) -> None:
    """Run one check of install_smoke.py from ``work`` (outside the repository)."""
    script = work / SMOKE.name
    shutil.copy2(SMOKE, script)
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "OVERMIND_LAKE_ROOT", "VIRTUAL_ENV")}
    env.update(MPLBACKEND="Agg", JUPYTER_DATA_DIR=str(work / "jupyter"),
               JUPYTER_CONFIG_DIR=str(work / "jupyter-config"), JUPYTER_RUNTIME_DIR=str(work / "jupyter-run"),
               PATH=f"{python.parent}{os.pathsep}{env.get('PATH', '')}")
    proc = subprocess.run([str(python), str(script), check, str(work)], cwd=work, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and proc.stdout.strip().endswith(f"ok {check}"), proc.stdout + proc.stderr


def test_base_install_runs_library_cli_and_serve(base_python, tmp_path):
    _smoke(base_python, "base", tmp_path)


def test_base_install_names_the_s3_extra_for_an_s3_root(base_python, tmp_path):
    _smoke(base_python, "missing-extra", tmp_path)


def test_notebook_extra_alone_runs_the_quickstart_notebook(notebook_python, tmp_path):
    shutil.copytree(REPO / "notebooks", tmp_path / "notebooks")
    shutil.copytree(REPO / "data" / "lake", tmp_path / "data" / "lake")  # the notebook's default root
    _smoke(notebook_python, "notebook", tmp_path)


@pytest.mark.parametrize("root, module, extra", [
    ("gs://some-bucket/lake", "gcsfs", "gcs"),
    ("az://container/lake", "adlfs", "azure"),
    ("abfs://container/lake", "adlfs", "azure"),
    ("simplecache::gs://some-bucket/lake", "gcsfs", "gcs"),
])
def test_a_root_whose_filesystem_is_missing_names_its_extra(root, module, extra):
    """In this venv too (the test extra brings s3fs, not gcsfs or adlfs)."""
    import importlib.util

    from click.testing import CliRunner

    import overmind_lake
    from overmind_lake.cli import cli

    if importlib.util.find_spec(module) is not None:
        pytest.skip(f"{module} is installed here")
    with pytest.raises(overmind_lake.MissingExtra) as caught:
        overmind_lake.Lake(root)
    assert isinstance(caught.value, overmind_lake.LakeError) and caught.value.extra == extra
    assert str(caught.value) == (f"the lake root {root!r} needs the {module!r} package: "
                                 f"pip install 'overmind-lake[{extra}]'")
    result = CliRunner().invoke(cli, ["versions", "x", "--root", root])
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == f"error: {caught.value}\n"
