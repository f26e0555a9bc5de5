"""What a running notebook is doing, for the runner's status lines.

While papermill executes a notebook, :class:`Watch` follows it from the kernel's messages: the
cell that runs (its number and first line), the tqdm progress bars inside it and the kernel's
last line of output. In a Jupyter kernel ``tqdm.auto`` draws ipywidgets bars, whose text
travels as widget-state (``comm``) messages, not as output; the watch reads the bars' text
from that state (tqdm's notebook bar is an ``HBox`` of an ``HTML`` prefix, a ``FloatProgress``
and an ``HTML`` suffix — ``tqdm/notebook.py``), and plain-text bars and prints from the
kernel's stdout / stderr streams. The watch of a notebook executed in a worker process writes
its :meth:`Watch.snapshot` to a small JSON file the runner's main process reads.

:func:`execute` runs papermill with an engine that feeds the watch (papermill's own
``nbclient`` engine with a hook on widget messages); :func:`status_line` renders a snapshot
with the elapsed time and the duration of the notebook's last run.
"""
from __future__ import annotations

import html
import json
import os
import re
import time
from pathlib import Path

from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.log import logger
from traitlets import Any

ENGINE = "aulib-watch"
WRITE_EVERY = 0.5      # seconds between snapshot files of a notebook run in a worker


class Watch:
    """The state of one executing notebook (see the module docstring).

    Args:
        notebook: the notebook id shown (``fgnet/01_within_domain``).
        path: where to write snapshots (JSON) for another process, or None.
    """

    def __init__(self, notebook: str, path: str | os.PathLike | None = None):
        self.notebook, self.path = notebook, (Path(path) if path else None)
        self.cell, self.cells, self.source = 0, 0, ""
        self.text = ""
        self._models: dict[str, dict] = {}
        self._closed: set[str] = set()
        self._written = 0.0

    # -- fed by the engine ------------------------------------------------------------------
    def cell_started(self, cell=None, cell_index: int = 0, **_) -> None:
        """nbclient's ``on_cell_start`` hook: cell ``cell_index`` (0-based) starts."""
        self.cell = cell_index + 1
        lines = [ln.strip() for ln in str(getattr(cell, "source", "") or "").splitlines()]
        self.source = next((ln for ln in lines if ln and not ln.startswith("#")), "")
        self.text = ""
        self._changed(force=True)

    def comm(self, msg: dict) -> None:
        """A widget message from the kernel (``comm_open`` / ``comm_msg`` / ``comm_close``)."""
        content = msg.get("content", {})
        cid = content.get("comm_id")
        if msg.get("msg_type") == "comm_close":
            self._closed.add(cid)
        else:
            state = (content.get("data") or {}).get("state")
            if isinstance(state, dict):
                self._models.setdefault(cid, {}).update(state)
        self._changed()

    def write(self, text: str) -> None:
        """A stream sink (papermill's ``stdout_file`` / ``stderr_file``): keeps the last line."""
        last = [p.strip() for p in re.split(r"[\r\n]", text) if p.strip()]
        if last:
            self.text = last[-1]
            self._changed()

    def flush(self) -> None:
        pass

    # -- read ------------------------------------------------------------------------------
    def bars(self) -> list[str]:
        """The text of every tqdm widget bar still running, outermost first."""
        out = []
        for cid, m in self._models.items():
            kids = [c[len("IPY_MODEL_"):] for c in m.get("children") or [] if isinstance(c, str)
                    and c.startswith("IPY_MODEL_")]
            if (m.get("_model_name") != "HBoxModel" or cid in self._closed or len(kids) != 3
                    or any(k not in self._models for k in kids)):
                continue
            left, bar, right = (self._models[k] for k in kids)
            if (bar.get("_model_name") != "FloatProgressModel" or bar.get("bar_style") in ("success", "danger")
                    or self._models.get(_ref(m.get("layout")), {}).get("visibility") == "hidden"):
                continue
            text = f"{_plain(left.get('value'))}|{_plain(right.get('value'))}".strip(" |")
            if text:
                out.append(text)
        return out

    def snapshot(self) -> dict:
        """{notebook, cell, cells, source, bars, text}: what :func:`status_line` renders."""
        return {"notebook": self.notebook, "cell": self.cell, "cells": self.cells, "source": self.source,
                "bars": self.bars(), "text": self.text}

    def _changed(self, force: bool = False) -> None:
        if self.path is None or (not force and time.time() - self._written < WRITE_EVERY):
            return
        self._written = time.time()
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        try:
            tmp.write_text(json.dumps(self.snapshot()))
            os.replace(tmp, self.path)
        except OSError:      # the staging folder is being removed: nothing left to show
            pass


def read_snapshot(path: str | os.PathLike) -> dict | None:
    """The last snapshot a worker's :class:`Watch` wrote, or None."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def status_line(snap: dict | None, notebook: str, elapsed: float, last_seconds: float | None) -> str:
    """One line: notebook, cell n/N and its first line, running bars (or the kernel's last
    output line), elapsed time and the last successful run's duration from the manifest."""
    parts = [notebook]
    if snap and snap.get("cell"):
        src = snap.get("source") or ""
        src = src if len(src) <= 40 else src[:39] + "…"
        parts.append(f"cell {snap['cell']}/{snap.get('cells') or '?'}" + (f" `{src}`" if src else ""))
    if snap and snap.get("bars"):
        parts += snap["bars"]
    elif snap and snap.get("text"):
        parts.append(snap["text"][:80])
    tail = f"{_clock(elapsed)} elapsed"
    tail += f", last run {_clock(last_seconds)}" if last_seconds else ", no earlier run"
    return " · ".join(parts + [tail])


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def _ref(value) -> str:
    return value[len("IPY_MODEL_"):] if isinstance(value, str) and value.startswith("IPY_MODEL_") else ""


def _plain(value) -> str:
    # tqdm pads with figure spaces (U+2007) and escapes HTML in the widget text
    return re.sub(r"\s+", " ", html.unescape(str(value or "")).replace("\u2007", " "))


class _WatchedClient(PapermillNotebookClient):
    """papermill's notebook client that also hands widget messages to a :class:`Watch`."""

    watch = Any(None)

    def handle_comm_msg(self, outs, msg, cell_index):
        super().handle_comm_msg(outs, msg, cell_index)
        if self.watch is not None:
            self.watch.comm(msg)


class _WatchedEngine(NBClientEngine):
    """papermill's ``nbclient`` engine with a :class:`Watch` on the execution."""

    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None,
                                 stderr_file=None, start_timeout=60, execution_timeout=None, watch=None,
                                 **kwargs):
        kwargs = {k: v for k, v in kwargs.items() if k not in ("input_path", "timeout", "startup_timeout")}
        watch = watch or Watch("")
        watch.cells = len(nb_man.nb.cells)
        return _WatchedClient(nb_man, timeout=execution_timeout, startup_timeout=start_timeout,
                              kernel_name=kernel_name, log=logger, log_output=log_output, stdout_file=watch,
                              stderr_file=watch, watch=watch, on_cell_start=watch.cell_started,
                              **kwargs).execute()


papermill_engines.register(ENGINE, _WatchedEngine)


def execute(nb_path, out_nb, params: dict, kernel: str, cwd, timeout: int | None, watch: Watch) -> None:
    """``papermill.execute_notebook`` with ``watch`` following the execution; raises what
    papermill raises (``PapermillExecutionError``, nbclient's ``DeadKernelError``, ...)."""
    import papermill as pm

    pm.execute_notebook(str(nb_path), str(out_nb), parameters=params, kernel_name=kernel, cwd=str(cwd),
                        progress_bar=False, log_output=False, execution_timeout=timeout,
                        engine_name=ENGINE, watch=watch)
