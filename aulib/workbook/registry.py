"""The notebook registry: which notebooks exist, their profiles, and parameter validation.

A notebook is registered by a sidecar TOML file with the same stem beside it
(``notebooks/<paper>/<nn>_<name>.ipynb`` + ``.toml``). The sidecar is the one declarative
place for its profiles::

    title = "AU detection metrics"
    after = []                  # notebook ids that must run first
    [profiles.smoke]            # seconds; the tests run it
    n_frames = 300
    [profiles.tiny]             # CPU + SynthAU, minutes (default of `make workbook`)
    n_frames = 20000
    [profiles.paper]            # GPU + real data + the paper's hyper-parameters
    n_frames = 100000

The notebook's ``parameters`` cell (``name: type = value  # help``, papermill's convention)
declares every parameter with its type and default. Resolved parameters are: defaults from
the cell, overridden by the profile's table, overridden by command-line ``-p`` values; the
runner always sets ``profile`` and ``output_dir``. A ``-p NAME=VALUE`` value is read for the
type the notebook declares: as the text written for a ``str`` parameter (``-p seeds=0,1`` is
``"0,1"``), else as a Python literal (``5``, ``0.5``, ``True``, ``[1, 2]``). Unknown names and wrong types are refused
before the notebook starts, with the list of valid parameters.
"""
from __future__ import annotations

import ast
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .. import config

import os

# AULIB_NOTEBOOKS points the registry at another notebooks folder (used by the tests).
NOTEBOOKS_DIR = Path(os.environ.get("AULIB_NOTEBOOKS", config.REPO_ROOT / "notebooks"))
REQUIRED_PARAMS = ("profile", "seed", "device", "output_dir")
_TYPES = {"str": (str,), "int": (int,), "float": (int, float), "bool": (bool,),
          "list": (list,), "dict": (dict,)}


class ParameterError(ValueError):
    """A notebook parameter is unknown, mistyped or malformed."""


@dataclass
class Notebook:
    """One registered notebook: its id (``<paper>/<stem>``), paths and sidecar content."""

    id: str
    path: Path
    sidecar: Path
    title: str
    after: list[str]
    profiles: dict[str, dict]
    _params: dict | None = field(default=None, repr=False)

    @property
    def paper(self) -> str:
        return self.id.split("/")[0]

    @property
    def stem(self) -> str:
        return self.id.split("/")[-1]

    def parameters(self) -> dict[str, dict]:
        """The notebook's declared parameters: name -> {type, default, help}."""
        if self._params is None:
            self._params = read_parameters(self.path)
        return self._params

    def resolve(self, profile: str, overrides: dict | None = None,
                output_dir: str = "") -> dict:
        """Parameters for ``profile`` (+ overrides), validated; see the module docstring."""
        config.check_profile(profile)
        declared = self.parameters()
        missing = [p for p in REQUIRED_PARAMS if p not in declared]
        if missing:
            raise ParameterError(f"{self.id}: the parameters cell must declare {missing} "
                                 f"(every notebook declares {', '.join(REQUIRED_PARAMS)})")
        values = {name: spec["default"] for name, spec in declared.items()}
        for source, given in ((f"profile {profile!r} in {self.sidecar.name}",
                               self.profiles.get(profile, {})),
                              ("the command line", overrides or {})):
            for name, value in given.items():
                if isinstance(value, CommandLineValue) and name in declared:
                    value = value.read(declared[name]["type"])
                _validate(self.id, declared, name, value, source)
                values[name] = value
        values["profile"] = profile
        values["output_dir"] = output_dir
        return values


def _validate(nb_id: str, declared: dict, name: str, value, source: str) -> None:
    if name not in declared:
        import difflib

        close = difflib.get_close_matches(name, declared, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        if source == "the command line" and not close:
            hint += (" (-p applies to every selected notebook: narrow --only to the notebooks "
                     "that declare it)")
        raise ParameterError(
            f"{nb_id}: unknown parameter {name!r} from {source}{hint}. Valid parameters: "
            + ", ".join(f"{n}: {s['type']}" for n, s in declared.items()))
    expected = declared[name]["type"]
    types = _TYPES.get(expected)
    if types is None:
        return  # untyped / None default: accept anything
    ok = isinstance(value, types) and not (expected in ("int", "float") and isinstance(value, bool))
    if not ok:
        hint = (" (-p takes the text as written for a str parameter, else a Python literal: 5, 0.5, "
                "True, [1, 2])" if source == "the command line" else "")
        raise ParameterError(
            f"{nb_id}: parameter {name!r} from {source} must be {expected}, got "
            f"{type(value).__name__} {value!r}{hint}. Valid parameters: "
            + ", ".join(f"{n}: {s['type']}" for n, s in declared.items()))


def read_parameters(path: Path) -> dict[str, dict]:
    """Parse the ``parameters`` cell: ``name: type = literal  # help`` per line.

    Implemented with ``ast`` (no kernel, no papermill import) so listing is instant; the
    same convention papermill's ``--help-notebook`` reads.
    """
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ParameterError(f"{path}: expected exactly one cell tagged 'parameters', "
                             f"found {len(cells)}")
    src = cells[0].source
    tree = ast.parse(src)
    lines = src.splitlines()
    params: dict[str, dict] = {}
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            name, typ = node.target.id, ast.unparse(node.annotation)
            value_node = node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and \
                isinstance(node.targets[0], ast.Name):
            name, typ, value_node = node.targets[0].id, None, node.value
        else:
            raise ParameterError(f"{path}: the parameters cell holds literal assignments only; "
                                 f"line {node.lineno} is not one")
        try:
            default = ast.literal_eval(value_node) if value_node is not None else None
        except ValueError as e:
            raise ParameterError(f"{path}: parameter {name!r} must have a literal default") from e
        if typ is None:
            typ = type(default).__name__ if default is not None else "None"
        line = lines[node.lineno - 1]
        help_ = line.split("#", 1)[1].strip() if "#" in line else ""
        params[name] = {"type": typ, "default": default, "help": help_}
    return params


def discover(notebooks_dir: Path | None = None) -> list[Notebook]:
    """All registered notebooks under ``notebooks_dir``, in dependency then name order."""
    root = Path(notebooks_dir or NOTEBOOKS_DIR)
    found: dict[str, Notebook] = {}
    for ipynb in sorted(root.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in ipynb.parts:
            continue
        sidecar = ipynb.with_suffix(".toml")
        if not sidecar.is_file():
            continue
        meta = tomllib.loads(sidecar.read_text())
        unknown_profiles = set(meta.get("profiles", {})) - set(config.PROFILES)
        if unknown_profiles:
            raise ParameterError(f"{sidecar}: unknown profile(s) {sorted(unknown_profiles)}; "
                                 f"valid: {', '.join(config.PROFILES)}")
        nb_id = ipynb.relative_to(root).with_suffix("").as_posix()
        found[nb_id] = Notebook(nb_id, ipynb, sidecar, meta.get("title", nb_id),
                                list(meta.get("after", [])), meta.get("profiles", {}))
    return _order(found)


def unregistered(notebooks_dir: Path | None = None) -> list[Path]:
    """Notebooks with no sidecar TOML (the tests require there are none)."""
    root = Path(notebooks_dir or NOTEBOOKS_DIR)
    return [p for p in sorted(root.rglob("*.ipynb"))
            if ".ipynb_checkpoints" not in p.parts and not p.with_suffix(".toml").is_file()]


def _order(found: dict[str, Notebook]) -> list[Notebook]:
    ordered: list[Notebook] = []
    state: dict[str, int] = {}

    def visit(nb_id: str, chain: tuple) -> None:
        if state.get(nb_id) == 2:
            return
        if state.get(nb_id) == 1:
            raise ParameterError(f"notebook dependency cycle: {' -> '.join(chain + (nb_id,))}")
        state[nb_id] = 1
        for dep in found[nb_id].after:
            if dep not in found:
                raise ParameterError(f"{nb_id} runs after {dep!r}, which is not a registered "
                                     f"notebook; registered: {', '.join(sorted(found))}")
            visit(dep, chain + (nb_id,))
        state[nb_id] = 2
        ordered.append(found[nb_id])

    for nb_id in sorted(found):
        visit(nb_id, ())
    return ordered


class CommandLineValue(str):
    """A ``-p NAME=VALUE`` value as typed; :meth:`read` turns it into the declared type's value
    (each notebook reads it for its own declaration)."""

    def read(self, declared_type: str):
        """The text itself for a ``str`` parameter; otherwise the Python literal it spells,
        or the text when it spells none (validation then names the expected type)."""
        if declared_type == "str":
            return str(self)
        try:
            return ast.literal_eval(self)
        except (ValueError, SyntaxError):
            return str(self)


def parse_override(text: str) -> tuple[str, CommandLineValue]:
    """``name=value`` from the command line; the value is kept as typed (a
    :class:`CommandLineValue`) until :meth:`Notebook.resolve` knows the declared type."""
    if "=" not in text:
        raise ParameterError(f"-p expects NAME=VALUE, got {text!r}")
    name, raw = text.split("=", 1)
    return name.strip(), CommandLineValue(raw)
