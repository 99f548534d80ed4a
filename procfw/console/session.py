"""The interpreter of the console language: a :class:`Session` owns a Workspace and runs statements.

Each statement typed at the top level (a REPL entry, a statement of the main script) is a
transaction: if it fails, the windows, icons, variables and defined commands are put back
as they were before it, and the error is raised as a
:class:`~procfw.language.errors.ConsoleRuntimeError` located at the statement, or at the
argument that caused it.
"""

from __future__ import annotations

import fnmatch
import math
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path, PurePath
from typing import IO, Any

from procfw.batch import EXECUTOR_KINDS, Executor, make_executor, use_executor
from procfw.console.commands import REQUIRED, CommandSpec, spec_of
from procfw.console.formatting import execution_lines, jsonable
from procfw.errors import FileExistsProcfwError, ProcfwError, UnknownNameError
from procfw.language import ast
from procfw.language.binder import bind_process
from procfw.language.errors import ArgumentError, ConsoleError, ConsoleRuntimeError
from procfw.language.parser import parse, source_line
from procfw.language.values import ArgValue, evaluate_args, format_value
from procfw.names import PREVIEW_SEPARATOR, is_valid_id, suggest
from procfw.paths import iter_glob
from procfw.process import MaskRef, Process, ProcessResult
from procfw.workspace import View, Workspace

__all__ = ["MAX_DEPTH", "Session"]

MAX_DEPTH = 32
"""How deeply defined commands and ``run`` scripts may call each other."""

_GLOB_CHARS = re.compile(r"[*?\[]")
_FALSE_WORDS = {"", "false", "no", "off", "0"}


class _Exit(BaseException):
    """``exit``: stop the session with a code (not an error; never rolled back)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class _Frame:
    """Where the interpreter is: the program whose nodes run, and the local variables."""

    def __init__(self, program: ast.Program, local: dict[str, Any] | None, argv: list[str]) -> None:
        self.program = program
        self.local = local
        self.argv = argv


class Session:
    """A console session: a workspace, variables, defined commands, and streams to print to.

    ``out`` receives what commands print (default: ``sys.stdout`` at the time of printing);
    ``err`` warnings.  ``args`` are the script arguments ``$1``, ``$2``... (``$0`` is the
    script name).  :attr:`records` and :attr:`created` collect what processes produced,
    for ``procfw run --json``.
    """

    def __init__(
        self,
        workspace: Workspace | None = None,
        *,
        out: IO[str] | None = None,
        err: IO[str] | None = None,
        args: Sequence[str] = (),
        script: str = "<console>",
        quiet: bool = False,
    ) -> None:
        self.workspace = workspace if workspace is not None else Workspace()
        self._out = out
        self._err = err
        self.variables: dict[str, Any] = {}
        self.defined: dict[str, tuple[ast.Def, ast.Program]] = {}
        self.argv: list[str] = [script, *args]
        self.records: list[dict[str, Any]] = []
        self.created: list[str] = []
        self.exit_code: int | None = None
        self.quiet = quiet
        """No line per execution and no report of what commands did (``-q``, ``set quiet true``)."""
        self.failures = 0
        """Entries that failed in a console (REPL) session, which goes on after errors."""
        self._frames: list[_Frame] = []
        self._depth = 0
        self.current_statement: ast.Command | None = None
        """The command statement running now (Python commands may use it to locate errors)."""
        self.current_args: list[ArgValue] = []
        """The evaluated arguments of that statement."""

    # -- streams -------------------------------------------------------------------------
    @property
    def out(self) -> IO[str]:
        """Where output goes."""
        return self._out if self._out is not None else sys.stdout

    @property
    def err(self) -> IO[str]:
        """Where warnings go."""
        return self._err if self._err is not None else sys.stderr

    def print(self, *values: Any) -> None:
        """Print values (console text forms) separated by spaces."""
        print(" ".join(v if isinstance(v, str) else format_value(v) for v in values), file=self.out)

    def say(self, *values: Any) -> None:
        """Print a report of what was done (an execution line, ``open: ...``) unless quiet."""
        if not self.quiet:
            self.print(*values)

    def warn(self, message: str) -> None:
        """Print a warning on the error stream."""
        print(f"warning: {message}", file=self.err)

    # -- running text ----------------------------------------------------------------------
    def run_text(self, text: str, *, file: str = "<string>", args: Sequence[str] | None = None) -> None:
        """Parse and run ``text``; raises ConsoleSyntaxError / ConsoleRuntimeError on the first error.

        ``args`` (when given) become ``$1``, ``$2``... and ``file`` becomes ``$0``.
        An ``exit`` statement stops the run and sets :attr:`exit_code`.
        """
        program = parse(text, file)
        if args is not None:
            self.argv = [file, *args]
        try:
            self.execute(program)
        except _Exit as stop:
            self.exit_code = stop.code

    def run_file(self, path: str | Path, args: Sequence[str] = ()) -> None:
        """Run the script file ``path`` with arguments ``args``."""
        text = self._read_script(path, None)
        self.run_text(text, file=str(path), args=list(args))

    def execute(self, program: ast.Program) -> None:
        """Run a parsed program at the top level (each statement a transaction)."""
        self._frames.append(_Frame(program, None, self.argv))
        try:
            for statement in program.statements:
                self._run_top(statement)
        finally:
            self._frames.pop()

    def _run_top(self, statement: ast.Statement) -> None:
        if self._depth > 0:
            self._run(statement)
            return
        snapshot = self.workspace.snapshot()
        variables, defined = dict(self.variables), dict(self.defined)
        records, created = len(self.records), len(self.created)
        try:
            self._run(statement)
        except _Exit:
            raise
        except BaseException:
            self.workspace.restore(snapshot)
            self.variables, self.defined = variables, defined
            del self.records[records:], self.created[created:]
            raise

    # -- errors ----------------------------------------------------------------------------
    @property
    def _frame(self) -> _Frame:
        return self._frames[-1]

    def error(self, message: str, node: ast.Node | None = None) -> ConsoleRuntimeError:
        """A ConsoleRuntimeError located at ``node`` in the program now running."""
        program = self._frame.program if self._frames else ast.Program((), "<console>", "")
        line, column = (node.line, node.column) if node is not None else (1, 1)
        return ConsoleRuntimeError(
            message, file=program.file, line=line, column=column, source_line=source_line(program.source, line)
        )

    @contextmanager
    def at(self, node: ast.Node) -> Iterator[None]:
        """Turn framework errors raised inside the block into errors located at ``node``."""
        try:
            yield
        except ConsoleError:
            raise
        except ArgumentError as exc:
            raise self.error(exc.message, exc.node or node) from None
        except ProcfwError as exc:
            raise self.error(str(exc), node) from None

    def _run(self, statement: ast.Statement) -> None:
        try:
            if isinstance(statement, ast.Command):
                self._run_command(statement)
            elif isinstance(statement, ast.Let):
                self._scope()[statement.name] = self.compute(statement.value)
            elif isinstance(statement, ast.For):
                self._run_for(statement)
            elif isinstance(statement, ast.If):
                self._run_if(statement)
            elif isinstance(statement, ast.Def):
                self._define(statement)
            elif isinstance(statement, ast.IconDef):
                self._define_icon(statement)
            else:  # pragma: no cover - the parser makes nothing else
                raise self.error(f"cannot run {type(statement).__name__}", statement)
        except ConsoleError:
            raise
        except ArgumentError as exc:
            raise self.error(exc.message, exc.node or statement) from None
        except ProcfwError as exc:
            raise self.error(str(exc), statement) from None
        except RecursionError:
            raise self.error("statements nest too deeply", statement) from None
        except MemoryError:
            raise self.error("out of memory", statement) from None
        except Exception as exc:  # noqa: BLE001 - a bug in a command must not become a traceback
            raise self.error(f"{type(exc).__name__}: {exc}", statement) from None

    def _run_block(self, block: ast.Block) -> None:
        for statement in block.statements:
            self._run(statement)

    # -- variables -------------------------------------------------------------------------
    def _scope(self) -> dict[str, Any]:
        frame = self._frame
        return frame.local if frame.local is not None else self.variables

    def lookup(self, ref: ast.VarRef) -> Any:
        """The value of a variable reference (``$x``, ``$1``, ``$@``, ``${x.stem}``, ``${x:-d}``)."""
        argv = self._frame.argv if self._frames else self.argv
        name = ref.name
        found = True
        value: Any = None
        if name == "@":
            value = list(argv[1:])
        elif name == "0" and self._frames:
            value = self._frame.program.file
        elif name.isdigit():
            index = int(name)
            if index < len(argv):
                value = argv[index]
            else:
                found = False
        else:
            frame = self._frame if self._frames else None
            if frame is not None and frame.local is not None and name in frame.local:
                value = frame.local[name]
            elif name in self.variables:
                value = self.variables[name]
            else:
                found = False
        if ref.default is not None and (not found or value == ""):
            value, found = ref.default, True
        if not found:
            if name.isdigit():
                given = len(argv) - 1
                raise ArgumentError(
                    f"script argument ${name} is not given ({given} argument{'s' if given != 1 else ''} given; "
                    f"write ${{{name}:-default}} for a default)",
                    ref,
                )
            known = list(self.variables) + list((self._frame.local or {}) if self._frames else {})
            hint = suggest(name, known)
            raise ArgumentError(f"undefined variable ${name}{hint.replace('(did you mean ', '(did you mean $')}", ref)
        if ref.attr is not None:
            if not isinstance(value, (str, Path)):
                raise ArgumentError(f"${{{name}.{ref.attr}}}: ${name} is {format_value(value)!r}, not a path", ref)
            path = Path(value)
            value = str(path.parent) if ref.attr == "parent" else getattr(path, ref.attr)
        return value

    def evaluate(self, node: ast.Value) -> Any:
        """The value of a literal, word, string or list (variables substituted)."""
        if isinstance(node, ast.Number):
            return node.value
        if isinstance(node, ast.ListValue):
            items: list[Any] = []
            for item in node.items:
                if isinstance(item, ast.Text) and item.single_var is not None and item.single_var.name == "@":
                    items.extend(self.lookup(item.single_var))
                else:
                    items.append(self.evaluate(item))
            return items
        if isinstance(node, ast.Text):
            ref = node.single_var
            if ref is not None:
                return self.lookup(ref)
            if node.kind == "word" and node.literal in ("true", "false"):
                return node.literal == "true"
            return self.text_of(node)
        raise ArgumentError(f"not a value: {type(node).__name__}", node)  # pragma: no cover

    def text_of(self, node: ast.Text) -> str:
        """The text of a word or string, variables substituted as text."""
        pieces = []
        for part in node.parts:
            if isinstance(part, str):
                pieces.append(part)
            elif node.kind == "string" and self._kept_as_text(part):
                pieces.append(f"${part.name}")
            else:
                value = self.lookup(part)
                pieces.append(" ".join(format_value(v) for v in value) if part.name == "@" else format_value(value))
        return "".join(pieces)

    def _kept_as_text(self, ref: ast.VarRef) -> bool:
        """An unset ``$name`` (no braces) inside a string stays as written (PixelMath's ``$T``)."""
        if ref.braced or ref.default is not None or ref.name == "@" or ref.name.isdigit():
            return False
        frame = self._frame if self._frames else None
        local = frame.local if frame is not None and frame.local is not None else {}
        return ref.name not in local and ref.name not in self.variables

    def _name_of(self, node: ast.Text, what: str) -> str:
        value = self.evaluate(node)
        if not isinstance(value, str) or not value:
            raise ArgumentError(f"{what} must be a name, not {format_value(value)!r}", node)
        return value

    def _args(self, nodes: Sequence[ast.Arg]) -> list[ArgValue]:
        return evaluate_args(nodes, self.evaluate, self._spread)

    def _spread(self, node: ast.Text) -> list[Any] | None:
        """The arguments ``$@`` stands for, when ``node`` is exactly ``$@``."""
        ref = node.single_var
        return list(self.lookup(ref)) if ref is not None and ref.name == "@" else None

    # -- control flow ----------------------------------------------------------------------
    def _run_for(self, statement: ast.For) -> None:
        scope = self._scope()
        for item in self._iterate(statement.iterable):
            scope[statement.var] = item
            self._run_block(statement.body)

    def _iterate(self, node: ast.Value) -> Iterator[Any]:
        value = self.evaluate(node)
        if isinstance(value, list):
            yield from value
            return
        if isinstance(value, (bool, int, float)):
            raise ArgumentError(f"cannot loop over {format_value(value)}: give a list [a, b] or a file pattern", node)
        text = str(value)
        if isinstance(node, ast.Text) and node.kind == "word" and node.single_var is None:
            if _GLOB_CHARS.search(text):
                yield from [v.id for v in self.match_views(text)]
            else:
                yield text
            return
        matched = False
        for path in self.glob_files(text):  # streamed: the loop body runs as matches are found
            matched = True
            yield path
        if not matched:
            self.warn(f"no file matches '{text}'")

    @staticmethod
    def glob_files(pattern: str) -> Iterator[str]:
        """Paths matching ``pattern``, streamed in :mod:`procfw.paths` order; a plain existing path itself.

        ``**`` spans directories without looping on symlinks (see :func:`procfw.paths.iter_glob`).
        """
        return iter_glob(pattern)

    def _run_if(self, statement: ast.If) -> None:
        if self.truth(statement.condition):
            self._run_block(statement.body)
        elif isinstance(statement.orelse, ast.Block):
            self._run_block(statement.orelse)
        elif isinstance(statement.orelse, ast.If):
            self._run_if(statement.orelse)

    def truth(self, condition: Any) -> bool:
        """Whether a condition holds (the truth of its value)."""
        return _truthy(self.compute(condition))

    def compute(self, node: Any) -> Any:
        """The value of an expression: a value, arithmetic (numbers; ``+`` also joins text),
        comparisons (true/false) and their combinations with and / or / not."""
        if isinstance(node, (ast.Or, ast.And)):
            if len(node.items) == 1:
                return self.compute(node.items[0])
            if isinstance(node, ast.Or):
                return any(self.truth(c) for c in node.items)
            return all(self.truth(c) for c in node.items)
        if isinstance(node, ast.Not):
            return self.truth(node.operand) == (node.count % 2 == 0)
        if isinstance(node, ast.Compare):
            left = self.compute(node.left)
            if node.op is None:
                return left
            return _compare(left, node.op, self.compute(node.right), node)
        if isinstance(node, ast.Arith):
            return _arith(self.compute(node.left), node.op, self.compute(node.right), node)
        if isinstance(node, ast.Negate):
            return _arith(0, "-", self.compute(node.operand), node)
        return self.evaluate(node)

    # -- definitions -----------------------------------------------------------------------
    def _define(self, statement: ast.Def) -> None:
        self.defined[statement.name] = (statement, self._frame.program)

    def _call_defined(self, name: str, args: list[ArgValue], statement: ast.Command) -> None:
        definition, program = self.defined[name]
        pending = object()
        spec = CommandSpec.from_params(
            name, lambda: None, [(p.name, REQUIRED if p.default is None else pending) for p in definition.params]
        )
        values, _ = spec.bind(args)
        local: dict[str, Any] = {}
        for param, value in zip(definition.params, values):
            local[param.name] = self.evaluate(param.default) if value is pending and param.default else value
        self._enter(statement)
        self._frames.append(_Frame(program, local, self._frame.argv))
        try:
            self._run_block(definition.body)
        except ConsoleError as exc:
            exc.notes.append(f"in '{name}' called at {self._frames[-2].program.file}:{statement.line}:"
                             f"{statement.column}")
            raise
        finally:
            self._frames.pop()
            self._depth -= 1

    def _enter(self, statement: ast.Node) -> None:
        if self._depth >= MAX_DEPTH:
            raise ArgumentError(f"calls nest deeper than {MAX_DEPTH} (endless recursion?)", statement)
        self._depth += 1

    def run_script(self, path: str | Path, args: Sequence[str], node: ast.Node | None = None) -> None:
        """Run another script inside this session (the ``run`` command): shared workspace and variables.

        ``$0``, ``$1``... are the script's own; an error inside points into that script.
        """
        text = self._read_script(path, node)
        program = parse(text, str(path))
        self._enter(node or ast.Node(1, 1))
        self._frames.append(_Frame(program, None, [str(path), *args]))
        try:
            for statement in program.statements:
                self._run(statement)
        except ConsoleError as exc:
            if len(self._frames) >= 2 and node is not None:
                exc.notes.append(f"in script run at {self._frames[-2].program.file}:{node.line}:{node.column}")
            raise
        finally:
            self._frames.pop()
            self._depth -= 1

    @staticmethod
    def _read_script(path: str | Path, node: ast.Node | None) -> str:
        from procfw.literals import MAX_SCRIPT_BYTES

        try:
            size = Path(path).stat().st_size
            if size > MAX_SCRIPT_BYTES:
                raise ArgumentError(
                    f"cannot read script '{path}': {size} bytes, more than the limit of {MAX_SCRIPT_BYTES} bytes "
                    "for a console script", node)
            return Path(path).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ArgumentError(f"cannot read script '{path}': {reason}", node) from None

    # -- icons -----------------------------------------------------------------------------
    def _define_icon(self, statement: ast.IconDef) -> None:
        from procfw.container import ContainerItem, ProcessContainer
        from procfw.registry import processes

        instance: Process
        if statement.command is not None:
            command = statement.command
            name = self._name_of(command.name, "a process id")
            if command.into is not None:
                raise ArgumentError("'-> NAME' has no meaning in an icon definition", command.into)
            args = self._args(command.args)
            xpsm = next((a for a in args if a.kind == "literal" and a.name == "xpsm"), None)
            if name not in processes and name in self.workspace.icons and not args:
                instance = ProcessContainer(items=[self.workspace.icons[name]])
            elif xpsm is not None:
                instance = self._placeholder(name, args, xpsm)
            else:
                with self.at(command.name):
                    cls = self._process_class(name, command.name, icons_too=True)
                instance, targets = self.build_instance(cls, args, for_icon=True)
                if targets:
                    raise ArgumentError(
                        f"an icon definition takes no target views (got {format_value(targets[0].value)})",
                        targets[0].node,
                    )
        else:
            for option in statement.options:
                if option.name != "description":
                    raise ArgumentError(f"unknown option --{option.name} (a container takes --description)", option)
            items = []
            for ref in statement.items:
                with self.at(ref):
                    child = self.workspace.icon(ref.name)
                mask = MaskRef(ref.mask, ref.mask_inverted) if ref.mask else None
                items.append(ContainerItem(instance=child, enabled=ref.enabled, mask=mask))
            instance = ProcessContainer(items=items)
        name = self._name_of(statement.name, "an icon id")
        if not is_valid_id(name):
            raise ArgumentError(
                f"invalid icon id '{name}': ids are letters, digits and _, not starting with a digit", statement.name
            )
        self.workspace.icons[name] = instance

    def _placeholder(self, name: str, args: list[ArgValue], xpsm: ArgValue) -> Process:
        """``icon X = Class --xpsm="<instance ...>"``: an icon kept as its XPSM element."""
        from procfw.icons.source import XPSM_OPTION, placeholder_from_xpsm

        if len(args) != 1 or not isinstance(xpsm.value, str):
            raise ArgumentError(f"--{XPSM_OPTION} takes a quoted string and goes alone", xpsm.node)
        instance, _meta = placeholder_from_xpsm(name, xpsm.value, [], source=self._frame.program.file, where=xpsm.node)
        return instance

    # -- commands and processes ------------------------------------------------------------
    def _run_command(self, statement: ast.Command) -> None:
        name = self._name_of(statement.name, "a command")
        args = self._args(statement.args)
        into = self._name_of(statement.into, "the name after '->'") if statement.into is not None else None
        if name in self.defined:
            if into is not None:
                raise ArgumentError(f"{name} does not take '-> NAME'", statement.into)
            self._call_defined(name, args, statement)
            return
        function = self.find_command(name, statement.name)
        if function is not None:
            spec = spec_of(function, name)
            if _asks_help(args, {p.name for p in spec.params}):
                self._help(name, statement)
                return
            self._call_python(spec, args, statement, into)
            return
        with self.at(statement.name):
            cls = self._process_class(name, statement.name)
        if _asks_help(args, set(cls.schema()) | set(cls.parameter_aliases)):
            self._help(name, statement)
            return
        if into is not None:
            raise ArgumentError(f"a process does not take '-> NAME' (use: icon {into} = {name} ...)", statement.into)
        run_options, args = _split_run_options(cls, args)
        instance, targets = self.build_instance(cls, args)
        if not run_options:
            self.run_instance(instance, targets, statement)
            return
        with self._file_executor(cls, run_options, targets, statement) as executor, use_executor(executor):
            self.run_instance(instance, targets, statement)

    @contextmanager
    def _file_executor(
        self, cls: type[Process], options: dict[str, ArgValue], targets: Sequence[ArgValue], statement: ast.Command
    ) -> Iterator[Executor]:
        """The executor that ``-executor=``/``-workers=``/``-scheduler=`` ask for, closed after the run."""
        first = next(iter(options.values())).node or statement
        if targets or not callable(getattr(cls, "process_file", None)):
            verb = "applies" if len(options) == 1 else "apply"
            raise ArgumentError(f"{cls.process_id}: -{', -'.join(options)} {verb} only to a run over files "
                                "(a process with a list of target files, run with no target view)", first)
        kind = options["executor"].value if "executor" in options else "processes"
        if kind not in EXECUTOR_KINDS:
            raise ArgumentError(f"-executor={format_value(kind)}: expected one of {'|'.join(EXECUTOR_KINDS)}"
                                f"{suggest(str(kind), list(EXECUTOR_KINDS))}", options["executor"].node)
        workers = options["workers"].value if "workers" in options else None
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
            raise ArgumentError(f"-workers={format_value(workers)}: expected a whole number of processes, at least 1",
                                options["workers"].node)
        scheduler = options["scheduler"].value if "scheduler" in options else None
        try:
            executor = make_executor(str(kind), workers=workers, scheduler=scheduler, preload=cls.worker_preload)
        except ProcfwError as exc:
            raise ArgumentError(str(exc), first) from None
        try:
            yield executor
        finally:
            executor.close()

    def _help(self, name: str, statement: ast.Command) -> None:
        """``NAME --help`` / ``NAME -h``: what ``help NAME`` prints."""
        function = self.find_command("help", statement.name)
        if function is None:  # pragma: no cover - help is a built-in
            raise ArgumentError("no help command is installed", statement)
        self._call_python(spec_of(function, "help"), [ArgValue("value", name, None, statement.name)], statement, None)

    def find_command(self, name: str, node: ast.Node | None = None) -> Callable[..., Any] | None:
        """The Python function of command ``name`` (built-in, registered or plugin), or None."""
        from procfw.registry import commands

        if commands.resolve(name) is None:
            return None
        try:
            return commands.get(name)
        except UnknownNameError as exc:
            raise ArgumentError(str(exc), node) from None

    def command_names(self) -> list[str]:
        """Every command name: defined with ``def``, built-in, registered and plugin."""
        from procfw.registry import commands

        return sorted(set(self.defined) | set(commands.ids()))

    def _process_class(self, name: str, node: ast.Node, *, icons_too: bool = False) -> type[Process]:
        from procfw.registry import processes

        if name in processes:
            return processes.get(name)
        candidates = self.command_names() + processes.ids() + (list(self.workspace.icons) if icons_too else [])
        what = "process" if icons_too else "command or process"
        raise ArgumentError(f"unknown {what} '{name}'{suggest(name, candidates)}", node)

    def _call_python(self, spec: CommandSpec, args: list[ArgValue], statement: ast.Command, into: str | None) -> None:
        call_args, call_kwargs = spec.bind(args)
        if into is not None:
            if not spec.takes_into:
                raise ArgumentError(f"{spec.name} does not take '-> NAME'", statement.into)
            call_kwargs["into"] = into
        if spec.wants_session:
            call_args.insert(0, self)
        previous = self.current_statement, self.current_args
        self.current_statement, self.current_args = statement, list(args)
        try:
            result = spec.function(*call_args, **call_kwargs)
        except (ConsoleError, ArgumentError, _Exit):
            raise
        except FileExistsProcfwError as exc:  # say it in the console's words, not the Python API's
            message = f"{exc.path}: file exists; add --overwrite to replace it"
            raise self.error(message, _offending(exc, args) or statement) from None
        except ProcfwError as exc:
            raise self.error(str(exc), _offending(exc, args) or statement) from None
        finally:
            self.current_statement, self.current_args = previous
        if result is not None:
            self.print(result if isinstance(result, str) else format_value(result))

    def build_instance(
        self, cls: type[Process], args: Sequence[ArgValue], *, for_icon: bool = False
    ) -> tuple[Process, list[ArgValue]]:
        """An instance of ``cls`` from a command line's options, and the positional arguments
        as targets (:func:`procfw.language.binder.bind_process`)."""
        return bind_process(cls, args, for_icon=for_icon)

    def match_views(self, pattern: str, node: ast.Node | None = None) -> list[View]:
        """Views whose id matches ``pattern`` (``*``/``?`` wildcards; ``img->*`` for previews)."""
        if not _GLOB_CHARS.search(pattern):
            with self.at(node or ast.Node(1, 1)):
                return [self.workspace.view(pattern)]
        if PREVIEW_SEPARATOR in pattern:
            window_pattern, preview_pattern = pattern.split(PREVIEW_SEPARATOR, 1)
            views: list[View] = [
                preview
                for window in self.workspace
                if fnmatch.fnmatchcase(window.id, window_pattern)
                for pid, preview in window.previews.items()
                if fnmatch.fnmatchcase(pid, preview_pattern)
            ]
        else:
            views = [w.main_view for w in self.workspace if fnmatch.fnmatchcase(w.id, pattern)]
        if not views:
            raise ArgumentError(f"no view matches '{pattern}'", node)
        return views

    def resolve_views(self, targets: Sequence[ArgValue]) -> list[tuple[View, ast.Node | None]]:
        """The views named by target arguments (ids, patterns, lists of them), without repeats."""
        out: list[tuple[View, ast.Node | None]] = []
        seen: set[str] = set()

        def add(value: Any, node: ast.Node | None) -> None:
            if isinstance(value, list):
                for item in value:
                    add(item, node)
                return
            if not isinstance(value, str):
                raise ArgumentError(f"not a view id: {format_value(value)}", node)
            for view in self.match_views(value, node):
                if view.id not in seen:
                    seen.add(view.id)
                    out.append((view, node))

        for target in targets:
            add(target.value, target.node)
        return out

    def run_instance(
        self, instance: Process, targets: Sequence[ArgValue], statement: ast.Node | None
    ) -> list[ProcessResult]:
        """Run ``instance`` on the target views; with none, globally if it can, else on the current view."""
        statement = statement or ast.Node(1, 1)
        results: list[ProcessResult] = []
        if targets:
            for view, node in self.resolve_views(targets):
                results.append(self._execute_on(instance, view, node or statement))
            return results
        ok, why = instance.can_execute_global()
        if ok:
            started = time.perf_counter()
            with self.at(statement):
                result = instance.execute_global(self.workspace)
            self._record(instance, result, time.perf_counter() - started)
            return [result]
        view = self.workspace.current_view
        if view is None:
            raise ArgumentError(f"{instance.process_id} needs a target view ({why}), and no image is open", statement)
        return [self._execute_on(instance, view, statement)]

    def _execute_on(self, instance: Process, view: View, node: ast.Node) -> ProcessResult:
        ok, why = instance.can_execute_on(view)
        if not ok:
            raise ArgumentError(f"{instance.process_id} cannot run on {view.id}: {why}", node)
        started = time.perf_counter()
        with self.at(node):
            result = instance.execute_on(view)
        self.workspace.current_view_id = view.id
        self._record(instance, result, time.perf_counter() - started)
        return result

    def _record(self, instance: Process, result: ProcessResult, seconds: float) -> None:
        self.records.append({
            "process": result.process_id, "target": result.target, "created": list(result.created),
            "seconds": round(seconds, 6), "outputs": jsonable(dict(result.outputs)),
        })
        self.created.extend(result.created)
        for line in execution_lines(result, seconds, type(instance)):
            self.say(line)
        for message in result.messages:
            self.say(message)

    # -- JSON ------------------------------------------------------------------------------
    def report(self, error: ConsoleError | None = None) -> dict[str, Any]:
        """What ran, for ``procfw run --json``: process outputs, windows created and open, errors."""
        return {
            "ok": error is None and not self.exit_code,
            "exit_code": (1 if error is not None else (self.exit_code or 0)),
            "outputs": list(self.records),
            "created": list(self.created),
            "windows": self.workspace.window_ids(),
            "icons": list(self.workspace.icons),
            "errors": [error.to_json()] if error is not None else [],
        }


def _offending(error: ProcfwError, args: Sequence[ArgValue]) -> ast.Node | None:
    """The argument an error is about: the one that gave the name (UnknownNameError.name)
    or the file (ImageFileError.path) it names, if any."""
    subject = getattr(error, "name", None) or getattr(error, "path", None)
    if not subject:
        return None
    for arg in args:
        given = arg.value if arg.kind == "value" else arg.name
        if isinstance(given, (str, PurePath)) and str(given) == subject and arg.node is not None:
            return arg.node
    return None


RUN_OPTIONS = ("executor", "workers", "scheduler")
"""Options of a process command line that choose where its files run (not parameters: not kept in icons)."""


def _split_run_options(cls: type[Process], args: Sequence[ArgValue]) -> tuple[dict[str, ArgValue], list[ArgValue]]:
    """(``-executor=``/``-workers=``/``-scheduler=`` options, the other arguments); a parameter of
    the same id, should a process declare one, stays a parameter."""
    schema = cls.schema()
    options: dict[str, ArgValue] = {}
    rest: list[ArgValue] = []
    for arg in args:
        if arg.kind == "option" and arg.name in RUN_OPTIONS and arg.name not in schema:
            if arg.name in options:
                raise ArgumentError(f"-{arg.name} given twice", arg.node)
            options[arg.name] = arg
        else:
            rest.append(arg)
    return options, rest


def _asks_help(args: Sequence[ArgValue], parameters: set[str]) -> bool:
    """``--help`` anywhere, or ``-h`` where no parameter is called h."""
    return any(
        (arg.kind == "literal" and arg.name == "help" and arg.value is None and "help" not in parameters)
        or (arg.kind == "flag" and arg.name == "h" and "h" not in parameters)
        for arg in args
    )


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() not in _FALSE_WORDS
    if isinstance(value, list):
        return bool(value)
    return value is not None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if not math.isnan(number) else None
    return None


def _as_number(value: Any) -> int | float | None:
    """A number, or text that is one (script arguments are text: ``$1 + 1``); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"[+\-]?[0-9]+", text):
            return int(text)
        number = _number(text)
        return number
    return None


def _arith(left: Any, op: str, right: Any, node: ast.Node) -> Any:
    """``left op right``: numbers (ints stay ints where exact), or text joined by ``+``."""
    a, b = _as_number(left), _as_number(right)
    if a is None or b is None:
        if op == "+" and isinstance(left, str) and isinstance(right, str):
            return left + right
        raise ArgumentError(f"cannot compute {format_value(left)!r} {op} {format_value(right)!r}: "
                            "arithmetic needs numbers (+ also joins two texts)", node)
    if op in ("/", "%") and b == 0:
        raise ArgumentError(f"division by zero in {format_value(left)} {op} {format_value(right)}", node)
    if op == "+":
        result: int | float = a + b
    elif op == "-":
        result = a - b
    elif op == "*":
        result = a * b
    elif op == "%":
        result = a % b
    else:
        result = a // b if isinstance(a, int) and isinstance(b, int) and a % b == 0 else a / b
    if isinstance(result, float) and not math.isfinite(result):
        raise ArgumentError(f"{format_value(left)} {op} {format_value(right)} is not a finite number", node)
    return result


def _compare(left: Any, op: str, right: Any, node: ast.Node) -> bool:
    a, b = _number(left), _number(right)
    if a is not None and b is not None:
        pair: tuple[Any, Any] = (a, b)
    elif isinstance(left, list) or isinstance(right, list):
        if op not in ("==", "!="):
            raise ArgumentError(f"cannot order lists with {op}", node)
        pair = (jsonable(left), jsonable(right))
    elif isinstance(left, bool) or isinstance(right, bool):
        if op not in ("==", "!="):
            raise ArgumentError(f"cannot order true/false with {op}", node)
        pair = (_truthy(left), _truthy(right))
    else:
        pair = (format_value(left), format_value(right))
    x, y = pair
    if op == "==":
        return bool(x == y)
    if op == "!=":
        return bool(x != y)
    if op == "<":
        return bool(x < y)
    if op == "<=":
        return bool(x <= y)
    if op == ">":
        return bool(x > y)
    return bool(x >= y)
