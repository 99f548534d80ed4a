"""The built-in console commands, written with :func:`procfw.console.command` like any other.

They are registered one way, as plugin commands are: listed in the ``procfw.commands``
entry-point group (``pyproject.toml``), found by name in :data:`procfw.registry.commands`,
and imported on first use.  Importing this module registers nothing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from procfw.batch import EXECUTOR_KINDS
from procfw.console.commands import command, format_value
from procfw.console.formatting import aligned_table, command_line, instance_lines
from procfw.console.session import Session, _Exit
from procfw.errors import ExecutionError, ProcfwError, UnknownNameError
from procfw.names import is_valid_id, make_id, suggest
from procfw.paths import has_wildcards, iter_glob

__all__ = ["BUILTINS", "KEYWORDS"]

BUILTINS: dict[str, Callable[..., Any]] = {}
"""Built-in command functions by name."""

KEYWORDS = ("let", "for", "in", "if", "else", "def", "icon", "and", "or", "not")
"""Words with a meaning in the grammar."""



def _builtin(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        command(name, register=False)(function)  # its CommandSpec; the entry point registers it
        BUILTINS[name] = function
        return function

    return decorate


# -- images ------------------------------------------------------------------------------------
@_builtin("open")
def open_(session: Session, path: str, *, id: str | None = None) -> None:
    """Open an image file in a new window; a pattern (* ? **) opens every match, in sorted order.

    Matches are found and opened one by one (``**`` spans directories and never loops on
    symlinks; the order is that of :func:`procfw.paths.iter_glob`).

    The window id is the file name's stem made a valid identifier, or -id=ID (suffixed
    _1, _2... when taken).
    """
    if id is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", id):
        raise ProcfwError(f"invalid image id '{id}': ids are letters, digits and _, not starting with a digit")
    files = iter_glob(path, files_only=True) if has_wildcards(path) else iter([os.path.expanduser(path)])
    opened = 0
    for file in files:  # streamed: each match opens as it is found
        window = session.workspace.open(file, id or make_id(Path(file).name.split(".")[0]))
        image = window.image
        session.say(f"open: {file} -> {window.id} ({image.width}x{image.height}x{image.channels}, "
                    f"{image.sample_format})")
        opened += 1
    if not opened:
        raise ProcfwError(f"no file matches '{path}'")


@_builtin("save")
def save(session: Session, view: str, path: str, *, overwrite: bool = False, stretch: bool = False) -> None:
    """Write a view's pixels to a file; the format follows the extension (.fits, .xisf, .png, .tif).

    The pixels are written as they are, as PixInsight does (.png and .tif quantize [0, 1]
    to 8 and 16 bits); --stretch writes the view as displayed instead (its STF, else an
    automatic stretch).  .xisf stores the view's STF as its display function.  An existing
    file is replaced only with --overwrite.
    """
    from procfw.display import save_view

    target = session.workspace.view(view)
    written = save_view(target, os.path.expanduser(path), overwrite=overwrite, stretch=stretch)
    session.say(f"save: {target.id} -> {written}{' (stretched)' if stretch else ''}")
    if not target.is_preview:
        target.window.file_path = path
        target.window.modified = False


@_builtin("close")
def close(session: Session, *views: str) -> None:
    """Close windows (ids or patterns such as img*); img->Preview01 deletes a preview."""
    if not views:
        raise ProcfwError("close: give the windows to close (ids or patterns, e.g. close img or close *)")
    for pattern in views:
        for view in session.match_views(pattern):
            if view.is_preview:
                window = view.window
                window.remove_preview(view.id.split("->", 1)[1])
            elif view.window.id in session.workspace:
                session.workspace.close(view.window.id)


@_builtin("windows")
def windows(session: Session) -> None:
    """List the image windows: id, geometry, sample type, file, previews."""
    if not len(session.workspace):
        session.print("no image windows")
        return
    current = session.workspace.current_view_id
    for window in session.workspace:
        image = window.image
        flags = []
        if window.modified:
            flags.append("modified")
        if window.mask is not None:
            flags.append(f"mask {'~' if window.mask.inverted else ''}{window.mask.window_id}")
        line = f"{'*' if current == window.id else ' '} {window.id}  {image.width}x{image.height}x{image.channels}"
        line += f"  {image.sample_format}"
        if window.file_path:
            line += f"  {window.file_path}"
        if flags:
            line += f"  ({', '.join(flags)})"
        session.print(line)
        for preview in window.previews.values():
            r = preview.rect
            mark = "*" if current == preview.id else " "
            session.print(f"  {mark} {preview.id}  [{r.x0}, {r.y0}, {r.x1}, {r.y1}]")


@_builtin("preview")
def preview(session: Session, view: str, x0: int, y0: int, x1: int, y1: int, *, id: str | None = None) -> None:
    """Create a preview of the rectangle [x0, x1) x [y0, y1) of a window (view id WINDOW->ID)."""
    window = session.workspace.window(view)
    window.add_preview(x0, y0, x1, y1, id)


@_builtin("mkdir")
def mkdir(session: Session, path: str) -> None:
    """Create a directory (and its parents); nothing happens if it exists."""
    try:
        Path(os.path.expanduser(path)).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ProcfwError(f"cannot create directory '{path}': {exc.strerror or exc}") from None


# -- files and settings ------------------------------------------------------------------------
@_builtin("cd")
def cd(session: Session, path: str = "~") -> None:
    """Change the working directory (default: home); relative paths are read from there."""
    target = os.path.expanduser(path)
    try:
        os.chdir(target)
    except OSError as exc:
        raise ProcfwError(f"cd: cannot change to '{path}': {exc.strerror or exc}") from None
    session.say(os.getcwd())


@_builtin("pwd")
def pwd(session: Session) -> None:
    """Print the working directory."""
    session.print(os.getcwd())


@_builtin("ls")
def ls(session: Session, *patterns: str) -> None:
    """List a directory (default: the working directory) or the files matching patterns (* ? **).

    Directories are shown with a trailing /, in sorted order.
    """
    names: list[str] = []
    for pattern in patterns or (".",):
        expanded = os.path.expanduser(pattern)
        if has_wildcards(expanded):
            names += [p + ("/" if os.path.isdir(p) else "") for p in iter_glob(expanded)]
        elif os.path.isdir(expanded):
            with os.scandir(expanded) as entries:
                names += sorted(e.name + ("/" if e.is_dir() else "") for e in entries)
        elif os.path.exists(expanded):
            names.append(pattern)
        else:
            raise ProcfwError(f"ls: no such file or directory: '{pattern}'")
    for name in names:
        session.print(name)


SETTINGS = {"quiet": "no line per execution and no report of what commands did (true/false)"}
"""What ``set`` can change."""


@_builtin("set")
def set_(session: Session, name: str | None = None, value: bool | None = None) -> None:
    """Show the settings, or set one: set quiet true (no line per execution, as procfw run -q)."""
    if name is None:
        rows = [[key, format_value(getattr(session, key)), text] for key, text in SETTINGS.items()]
        for line in aligned_table(["setting", "value", "meaning"], rows, indent=""):
            session.print(line)
        return
    if name not in SETTINGS:
        raise ProcfwError(f"set: unknown setting '{name}'{suggest(name, list(SETTINGS))}")
    if value is None:
        session.print(f"{name} = {format_value(getattr(session, name))}")
        return
    setattr(session, name, value)


# -- history -----------------------------------------------------------------------------------
def _view(session: Session, view: str | None) -> Any:
    if view is not None:
        return session.workspace.view(view)
    current = session.workspace.current_view
    if current is None:
        raise ProcfwError("no image is open: give a view id")
    return current


@_builtin("undo")
def undo(session: Session, view: str | None = None) -> None:
    """Undo the last processing step of a view (default: the current view)."""
    target = _view(session, view)
    step = target.history.done[-1].process.process_id if target.history.done else None
    target.undo()
    session.say(f"undo: {target.id} ({step})")


@_builtin("redo")
def redo(session: Session, view: str | None = None) -> None:
    """Redo the last undone step of a view (default: the current view)."""
    target = _view(session, view)
    step = target.history.undone[-1].process.process_id if target.history.undone else None
    target.redo()
    session.say(f"redo: {target.id} ({step})")


@_builtin("history")
def history(session: Session, view: str | None = None, *, into: str | None = None) -> None:
    """Print a view's processing history; with -> NAME, keep it as a ProcessContainer icon NAME."""
    from procfw.container import ProcessContainer

    try:
        target = _view(session, view)
    except UnknownNameError as exc:
        if view is not None and "->" in view and into is None:
            window, name = view.split("->", 1)
            raise UnknownNameError(
                f"{exc} (to keep the history as icon {name}, write: history {window} -> {name})", name=view
            ) from None
        raise
    if into is not None:
        if not is_valid_id(into):
            raise ProcfwError(f"invalid icon id '{into}': ids are letters, digits and _, not starting with a digit")
        session.workspace.icons[into] = ProcessContainer.from_history(target)
        return
    done, undone = target.history.done, target.history.undone
    session.print(f"history of {target.id}: {len(done)} step{'s' if len(done) != 1 else ''}")
    for number, step in enumerate(done, 1):
        lines = instance_lines(step.process)
        session.print(f"  {number}. {lines[0]}")
        for line in lines[1:]:
            session.print(f"     {line}")
    for step in reversed(undone):
        session.print(f"  (undone) {command_line(step.process)}")


# -- processes and icons -----------------------------------------------------------------------
@_builtin("processes")
def processes_(session: Session, pattern: str = "*") -> None:
    """List the installed processes (optionally those matching a pattern such as *Fit*)."""
    import fnmatch

    from procfw.registry import processes

    for id_ in processes.ids():
        if fnmatch.fnmatchcase(id_, pattern):
            session.print(id_)


@_builtin("exec")
def exec_(
    session: Session, icon: str, *targets: Any, executor: Literal[EXECUTOR_KINDS] | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
) -> None:
    """Run a process icon on target views (ids, patterns), or globally / on the current view.

    exec ICON CONTAINER, where CONTAINER is an ImageContainer icon, runs ICON over every
    enabled item of the container: each file is read, processed and written to a new file
    (one line per item, then a summary; a failing item is reported and the others go on;
    the command fails at the end if any item failed).  -executor=serial|processes|dask
    (default serial), -workers=N and -scheduler=ADDRESS (dask) choose how files run.
    """
    instance = session.workspace.icon(icon)
    target_args = [a for a in session.current_args if a.kind == "value"][1:]
    container = _target_container(session, target_args)
    if container is None:
        if executor is not None or workers is not None or scheduler is not None:
            raise ProcfwError("exec: -executor, -workers and -scheduler apply only when the target is an "
                              "image container icon (exec ICON CONTAINER)")
        results = session.run_instance(instance, target_args, session.current_statement)
        outputs_of = getattr(instance, "icon_outputs", None)
        if callable(outputs_of) and results:  # as PixInsight: the icon keeps its last run's read-only outputs
            session.workspace.icons[icon] = instance.evolve(**outputs_of(results[-1].outputs))
        return
    name, target = container
    run = target.execute_process(
        instance, workspace=session.workspace, executor=executor or "serial", workers=workers, scheduler=scheduler,
        on_item=lambda outcome: session.print(outcome.line()), name=name,
    )
    session.print(run.summary())
    session.records.append({"process": instance.process_id, "target": name, "outputs": run.outputs()})
    if not run.ok:
        total = len(run.outcomes)
        raise ExecutionError(f"exec {icon} {name}: {run.count('failed')} of {total} item{'s' if total != 1 else ''} "
                             "failed (see above)")


def _target_container(session: Session, targets: list[Any]) -> tuple[str, Any] | None:
    """``(icon id, instance)`` when the only target names an icon that is a target container, else None.

    A target container is an instance whose class sets ``is_target_container`` and has an
    ``execute_process(instance, *, workspace, executor, workers, scheduler, on_item, name)``
    method returning a run with ``summary()``, ``outputs()``, ``ok`` and ``count(status)``
    (the built-in one is ImageContainer).  A view of the same id wins.
    """
    if len(targets) != 1 or not isinstance(targets[0].value, str):
        return None
    name = targets[0].value
    target = session.workspace.icons.get(name)
    if target is None or not getattr(target, "is_target_container", False) or name in session.workspace:
        return None
    if not callable(getattr(target, "execute_process", None)):
        return None
    return name, target


@_builtin("icons")
def icons(session: Session, action: Literal["list", "save", "load"] = "list", path: str | None = None, *names: str,
          overwrite: bool = False) -> None:
    """List the process icons; icons save "PATH" [NAMES...]; icons load "PATH".

    The file format follows the extension (.xpsm is PixInsight's).
    """
    if action == "list":
        if path is not None:
            raise ProcfwError("icons: 'list' takes no more arguments")
        if not session.workspace.icons:
            session.print("no process icons")
        for name, instance in session.workspace.icons.items():
            session.print(f"{name} = {command_line(instance)}")
        return
    if action not in ("save", "load"):
        raise ProcfwError(f"icons: unknown action '{action}'{suggest(action, ['list', 'save', 'load'])}; "
                          "use icons, icons save \"PATH\" [NAMES...] or icons load \"PATH\"")
    if path is None:
        raise ProcfwError(f"icons {action}: give the file path")
    try:
        import procfw.icons as icon_files
    except ImportError as exc:  # pragma: no cover - procfw.icons is part of procfw
        raise ProcfwError(f"icon files are not available: {exc}") from None
    if action == "save":
        save_icons = getattr(icon_files, "save_icons", None)
        if save_icons is None:
            raise ProcfwError("icon files cannot be written by this installation (procfw.icons.save_icons)")
        chosen = list(names) or list(session.workspace.icons)
        if not chosen:
            raise ProcfwError("icons save: there are no icons to save")
        selected = {name: session.workspace.icon(name) for name in chosen}
        save_icons(os.path.expanduser(path), selected, overwrite=overwrite)
        session.say(f"icons save: {len(selected)} icon{'s' if len(selected) != 1 else ''} -> {path}")
        return
    if names:
        raise ProcfwError("icons load takes only the file path")
    load_icons = getattr(icon_files, "load_icons", None)
    add_loaded = getattr(icon_files, "add_loaded", None)
    if load_icons is None or add_loaded is None:
        raise ProcfwError("icon files cannot be read by this installation (procfw.icons.load_icons)")
    result = load_icons(os.path.expanduser(path))
    for warning in getattr(result, "warnings", ()) or ():
        session.warn(str(warning))
    renamed = add_loaded(session.workspace, result) or {}
    count = len(result.icons)
    session.say(f"icons load: {count} icon{'s' if count != 1 else ''} from {path}: {', '.join(renamed.values())}")
    for old, new in renamed.items():
        if old != new:
            session.print(f"icon {old} loaded as {new} (the id was taken)")


# -- scripts and help --------------------------------------------------------------------------
@_builtin("echo")
def echo(session: Session, *words: str) -> None:
    """Print the arguments, separated by spaces."""
    session.print(" ".join(words))


@_builtin("run")
def run(session: Session, script: str, *args: str) -> None:
    """Run another script in this session (same windows, icons and variables; its own $1, $2...)."""
    statement = session.current_statement
    node = statement.args[0] if statement is not None and statement.args else statement
    session.run_script(os.path.expanduser(script), list(args), node)


@_builtin("exit")
def exit_(session: Session, code: int = 0) -> None:
    """Stop the script (or the console) with an exit code, 0 to 255 (what a process can return)."""
    if not 0 <= code <= 255:
        raise ProcfwError(f"exit code {code} is outside 0..255: an operating system keeps only 8 bits of it")
    raise _Exit(code)


@_builtin("vars")
def vars_(session: Session) -> None:
    """List the variables and their values."""
    for name, value in session.variables.items():
        session.print(f"{name} = {format_value(value)}")


@_builtin("help")
def help_(session: Session, name: str | None = None) -> None:
    """Help on a process (its parameters), a command (its usage) or an icon; without a name, the commands."""
    from procfw.console.commands import spec_of
    from procfw.describe import describe_process
    from procfw.registry import processes

    if name is None:
        session.print("commands:")
        rows = []
        for command_name in session.command_names():
            if command_name in session.defined:
                summary = "(defined with def)"
            else:
                try:
                    function = session.find_command(command_name)
                    summary = spec_of(function, command_name).doc.split("\n")[0] if function is not None else ""
                except Exception as exc:  # noqa: BLE001 - one broken plugin command must not break help
                    summary = f"(cannot be used: {exc})"
            rows.append((command_name, summary))
        width = max((len(name) for name, _ in rows), default=0)
        for command_name, summary in rows:
            session.print(f"  {command_name.ljust(width)}  {summary}".rstrip())
        session.print("statements: let, for ... in, if ... else, def, icon NAME = ...")
        session.print("processes: type 'processes' for the list, 'help ProcessId' for one")
        return
    if name in session.defined:
        definition, _ = session.defined[name]
        params = " ".join(p.name.upper() if p.default is None else f"[{p.name.upper()}]" for p in definition.params)
        session.print(f"usage: {name} {params}".rstrip() + "   (defined with def)")
        return
    function = session.find_command(name)
    if function is not None:
        session.print(spec_of(function, name).help())
        return
    if name in processes:
        cls = processes.get(name)
        session.print(describe_process(cls))
        literals = tuple(getattr(cls, "console_literals", ()) or ())
        if literals:
            session.print("  console switches: " + ", ".join(f"--{lit}" for lit in literals))
        return
    if name in session.workspace.icons:
        for line in instance_lines(session.workspace.icons[name]):
            session.print(line)
        return
    if name in ("let", "for", "in", "if", "else", "def", "icon"):
        session.print(f"'{name}' is a statement keyword; see docs/console.md")
        return
    candidates = session.command_names() + processes.ids() + list(session.workspace.icons)
    raise UnknownNameError(f"no command, process or icon '{name}'{suggest(name, candidates)}", name=name)


@_builtin("mask")
def mask(session: Session, view: str, mask: str | None = None, *, inverted: bool = False) -> None:
    """Set the mask of a window to another window (same size); without MASK, remove it."""
    session.workspace.set_mask(view, mask, inverted=inverted)


@_builtin("delete")
def delete(session: Session, *names: str) -> None:
    """Delete process icons."""
    if not names:
        raise ExecutionError("delete: give the icons to delete")
    for name in names:
        session.workspace.delete_icon(name)
