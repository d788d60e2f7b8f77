"""The module is built for Debian's python3 and installs where it looks."""
import os
import pathlib
import subprocess
import sys
import sysconfig

import pytest
import sparq
from sparq import _sparq

BUILD_DIR = pathlib.Path(os.environ.get("SPARQ_BUILD_DIR", pathlib.Path(sparq.__file__).parents[2]))


def test_module_matches_this_interpreter():
    suffix = sysconfig.get_config_var("EXT_SUFFIX")  # .cpython-311-x86_64-linux-gnu.so
    assert pathlib.Path(_sparq.__file__).name == "_sparq" + suffix


def test_ctest_runs_debians_python():
    if "SPARQ_BUILD_DIR" not in os.environ:
        pytest.skip("run by hand: any interpreter the module was built for is fine")
    assert sys.executable == "/usr/bin/python3"


def test_install_puts_the_package_on_debians_path(tmp_path):
    if not (BUILD_DIR / "cmake_install.cmake").exists():
        pytest.skip(f"no CMake build tree at {BUILD_DIR}")
    subprocess.run(["cmake", "--install", str(BUILD_DIR), "--prefix", str(tmp_path)], check=True,
                   capture_output=True)
    # Debian's python3 searches <prefix>/lib/python3.X/dist-packages under
    # /usr/local (its default install scheme) and /usr.
    platlib = pathlib.Path(sysconfig.get_path("platlib"))
    if not platlib.is_relative_to("/usr/local"):
        pytest.skip(f"not Debian's python3 (site packages in {platlib})")
    relative = platlib.relative_to("/usr/local")
    package = tmp_path / relative / "sparq"
    assert (package / "__init__.py").exists() and (package / "py.typed").exists()
    env = dict(os.environ, PYTHONPATH=str(tmp_path / relative))
    out = subprocess.run([sys.executable, "-c", "import sparq; print(sparq.__file__)"], env=env,
                         check=True, capture_output=True, text=True, cwd=tmp_path).stdout
    assert out.strip() == str(package / "__init__.py")
