"""The pip (pyproject.toml) and conda (environment.yml) dependency lists must agree."""
import re
import tomllib

from aulib.config import REPO_ROOT


def _pyproject_pins():
    meta = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    deps = list(meta["dependencies"])
    for extra in meta.get("optional-dependencies", {}).values():
        deps += extra
    return {re.split("==", d)[0].strip().lower(): d.split("==")[1].strip() for d in deps}


def _environment_pins():
    pins, in_pip = {}, False
    for line in (REPO_ROOT / "environment.yml").read_text().splitlines():
        s = line.strip()
        if s.startswith("- pip:"):
            in_pip = True
            continue
        if in_pip and s.startswith("- ") and "==" in s:
            name, version = s[2:].split("==")
            pins[name.strip().lower()] = version.strip()
    return pins


def test_every_dependency_is_pinned_exactly():
    meta = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    loose = [d for d in meta["dependencies"] if "==" not in d]
    assert not loose, f"pin these with ==: {loose}"


def test_pip_and_conda_lists_agree():
    py, env = _pyproject_pins(), _environment_pins()
    assert py, "no dependencies parsed from pyproject.toml"
    assert py == env, (f"only in pyproject: {sorted(set(py.items()) - set(env.items()))}; "
                       f"only in environment.yml: {sorted(set(env.items()) - set(py.items()))}")


def test_torch_pins_are_the_ones_that_install_here():
    py = _pyproject_pins()
    assert py["torch"] == "2.14.1" and py["torchvision"] == "0.29.1"


def test_installed_versions_match_the_pins():
    from importlib import metadata

    wrong = {}
    for name, version in _pyproject_pins().items():
        try:
            got = metadata.version(name)
        except metadata.PackageNotFoundError:
            got = "missing"
        if got.split("+")[0] != version:
            wrong[name] = (version, got)
    assert not wrong, f"installed versions differ from pyproject pins (pinned, installed): {wrong}"
