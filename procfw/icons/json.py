"""Process icons as JSON: a versioned envelope per instance, a versioned file of icons.

An instance::

    {"procfw_icon": 1, "process": "PixelMath", "version": 256,
     "parameters": {"expression": "$T*0.5", "rescale": false, ...},
     "description": "optional", "time": {"start": "...", "span": "..."}}

a container adds ``"items": [{"enabled": true, "mask": null, "instance": {...}}]`` (a mask
is ``{"window": "id", "inverted": false}``); a placeholder for a process that is not
installed carries ``"placeholder": true`` and its raw XPSM elements as ``"xpsm": [...]``.
A file is ``{"format": "procfw-icons", "version": 1, "icons": {id: envelope}}``, where an
envelope may add ``"position": {"xpos": x, "ypos": y, "workspace": w}``.

Parameter values are each kind's ``to_json`` form and are read back with ``convert``;
process classes come from the registry only.
"""

from __future__ import annotations

import json as _json
import os
from collections.abc import Mapping
from typing import Any

from procfw.container import ContainerItem, ProcessContainer
from procfw.errors import ProcfwError, UnknownNameError
from procfw.icons.lookup import is_container, process_class
from procfw.icons.model import (
    MAX_NESTING,
    IconFileError,
    IconMeta,
    InstanceMeta,
    LoadResult,
    check_nesting,
    is_identifier,
    read_bounded,
    shown,
)
from procfw.icons.safexml import MAX_FILE_BYTES
from procfw.process import MaskRef, Process
from procfw.unknown import RawElement, UnknownProcess

__all__ = ["ENVELOPE_VERSION", "FILE_FORMAT", "FILE_VERSION", "dumps", "from_envelope", "load", "loads", "to_envelope"]

ENVELOPE_VERSION = 1
FILE_FORMAT = "procfw-icons"
FILE_VERSION = 1


# -- writing ------------------------------------------------------------------------------
def to_envelope(instance: Process, meta: InstanceMeta | None = None) -> dict[str, Any]:
    """The JSON envelope of ``instance`` (with ``meta``'s version, description and time)."""
    if meta is not None and not meta.applies_to(instance.process_id):
        meta = None
    out: dict[str, Any] = {"procfw_icon": ENVELOPE_VERSION, "process": instance.process_id}
    if isinstance(instance, UnknownProcess):
        from procfw.icons.xpsm import check_element_ids

        if not is_identifier(instance.class_id):
            raise IconFileError("<json>", f"process id {shown(instance.class_id)} is not an identifier")
        check_element_ids(instance.elements, "<json>")  # what the reader would refuse is not written
        if instance.class_version is not None:
            out["version"] = instance.class_version
        out["placeholder"] = True
        out["xpsm"] = [element.to_json() for element in instance.elements]
        return out
    version = meta.version if meta is not None and meta.version is not None else None
    if version is None and not is_container(instance):
        version = instance.process_version
    if version is not None:
        out["version"] = version
    if isinstance(instance, ProcessContainer):
        out["items"] = [
            {
                "enabled": item.enabled,
                "mask": None if item.mask is None else {"window": _mask_id(item.mask.window_id),
                                                         "inverted": item.mask.inverted},
                "instance": to_envelope(item.instance, meta.child(i) if meta is not None else None),
            }
            for i, item in enumerate(instance.items)
        ]
    else:
        out["parameters"] = {pid: kind.to_json(getattr(instance, pid)) for pid, kind in type(instance).schema().items()}
    if meta is not None and meta.description is not None:
        out["description"] = meta.description
    if meta is not None and meta.time is not None:
        out["time"] = {"start": meta.time[0], "span": meta.time[1]}
    return out


def _mask_id(window_id: str) -> str:
    if not is_identifier(window_id):
        raise IconFileError("<json>", f"mask view id {shown(window_id)} is not an identifier")
    return window_id


def dumps(icons: Mapping[str, Process], *, meta: Mapping[str, IconMeta] | None = None) -> str:
    """A procfw-icons JSON document of ``icons`` (indented, UTF-8 text, keys in icon order)."""
    meta = meta or {}
    out: dict[str, Any] = {}
    for icon_id, instance in icons.items():
        check_nesting(instance, "<json>", f"icon {icon_id}")
        icon_meta = meta.get(icon_id)
        envelope = to_envelope(instance, icon_meta.instance if icon_meta else None)
        if icon_meta is not None and (icon_meta.xpos is not None or icon_meta.ypos is not None or icon_meta.workspace):
            envelope["position"] = {"xpos": icon_meta.xpos, "ypos": icon_meta.ypos, "workspace": icon_meta.workspace}
        out[icon_id] = envelope
    document = {"format": FILE_FORMAT, "version": FILE_VERSION, "icons": out}
    return _json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


# -- reading ------------------------------------------------------------------------------
class _Bad(Exception):
    """A structural problem in a document, with the path of the offending value."""


def from_envelope(
    data: Any, warnings: list[str] | None = None, *, where: str = "instance", depth: int = 0
) -> tuple[Process, InstanceMeta]:
    """An instance (typed, or a placeholder when its process is not installed) from an envelope."""
    warnings = warnings if warnings is not None else []
    try:
        return _from_envelope(data, warnings, where, depth)
    except _Bad as exc:
        raise IconFileError("<json>", str(exc)) from None


def _require(condition: bool, where: str, problem: str) -> None:
    if not condition:
        raise _Bad(f"{where}: {problem}")


def _require_id(text: Any, where: str, what: str) -> str:
    _require(is_identifier(text), where,
             f"invalid {what} {shown(text)}: ids are letters, digits and _, not starting with a digit")
    return str(text)


def _from_envelope(data: Any, warnings: list[str], where: str, depth: int) -> tuple[Process, InstanceMeta]:
    _require(depth <= MAX_NESTING, where, f"containers nested deeper than {MAX_NESTING} levels (the limit)")
    _require(isinstance(data, dict), where, "an instance must be a JSON object")
    _require(data.get("procfw_icon") == ENVELOPE_VERSION, where,
             f"not a procfw icon envelope version {ENVELOPE_VERSION} (procfw_icon={data.get('procfw_icon')!r})")
    class_id = data.get("process")
    _require(isinstance(class_id, str) and bool(class_id), where, "'process' must be a process id")
    _require_id(class_id, where, "process id")
    version = data.get("version")
    _require(version is None or (isinstance(version, int) and not isinstance(version, bool)), where,
             "'version' must be an integer")
    description = data.get("description")
    _require(description is None or isinstance(description, str), where, "'description' must be a string")
    time = data.get("time")
    time_pair = None
    if time is not None:
        _require(isinstance(time, dict) and all(isinstance(time.get(k, ""), str) for k in ("start", "span")),
                 where, "'time' must be {\"start\": text, \"span\": text}")
        time_pair = (time.get("start", ""), time.get("span", ""))
    meta = InstanceMeta(class_id=class_id, version=version, description=description, time=time_pair)
    where = f"{where} ({class_id})"
    cls = process_class(class_id)
    elements = _raw_elements(data, where) if "xpsm" in data else None
    if cls is None:
        if elements is None:
            elements = _elements_from_parameters(data, warnings, where)
        else:
            from procfw.icons.xpsm import metadata_from_elements

            meta = metadata_from_elements(tuple(elements), class_id, version)
        return UnknownProcess(class_id=class_id, class_version=version, elements=elements), meta
    if elements is not None:  # a placeholder written while the process was missing; it is installed now
        from procfw.icons.xpsm import element_to_instance

        head = [("class", class_id)] + ([] if version is None else [("version", str(version))])
        element = RawElement(tag="instance", attributes=head, children=elements)
        instance, xmeta = element_to_instance(element, warnings, source=where, depth=depth)
        return instance, InstanceMeta(class_id=xmeta.class_id, version=version, description=xmeta.description,
                                      time=xmeta.time, children=xmeta.children)
    meta = InstanceMeta(class_id=cls.process_id, version=version, description=description, time=time_pair)
    if is_container(cls):
        return _container(cls, data, warnings, where, depth, meta)
    parameters = data.get("parameters", {})
    _require(isinstance(parameters, dict), where, "'parameters' must be an object")
    values: dict[str, Any] = {}
    for name, value in parameters.items():
        _require_id(name, where, "parameter id")
        try:
            pid = cls.parameter_id(name)
        except UnknownNameError:
            warnings.append(f"{where}: unknown parameter {name!r} ignored")
            continue
        values[pid] = value
    try:
        instance = cls.from_parameters(values)
    except (ProcfwError, ValueError, TypeError) as exc:
        raise _Bad(f"{where}: {exc}") from None
    return instance, meta


def _container(
    cls: type[Process], data: dict[str, Any], warnings: list[str], where: str, depth: int, meta: InstanceMeta
) -> tuple[Process, InstanceMeta]:
    items_data = data.get("items", [])
    _require(isinstance(items_data, list), where, "'items' must be a list")
    items: list[ContainerItem] = []
    metas: list[InstanceMeta | None] = []
    for index, item in enumerate(items_data):
        here = f"{where} item {index}"
        _require(isinstance(item, dict), here, "an item must be an object")
        enabled = item.get("enabled", True)
        _require(isinstance(enabled, bool), here, "'enabled' must be true or false")
        mask = item.get("mask")
        mask_ref = None
        if mask is not None:
            _require(isinstance(mask, dict) and isinstance(mask.get("window"), str)
                     and isinstance(mask.get("inverted", False), bool), here,
                     "'mask' must be null or {\"window\": id, \"inverted\": bool}")
            _require_id(mask["window"], here, "mask view id")
            mask_ref = MaskRef(mask["window"], mask.get("inverted", False))
        instance, child_meta = _from_envelope(item.get("instance"), warnings, here, depth + 1)
        items.append(ContainerItem(instance=instance, enabled=enabled, mask=mask_ref))
        metas.append(child_meta)
    return cls(items=items), InstanceMeta(class_id=meta.class_id, version=meta.version, description=meta.description,
                                          time=meta.time, children=metas)


def _raw_elements(data: dict[str, Any], where: str) -> list[RawElement]:
    raw = data.get("xpsm")
    _require(isinstance(raw, list), where, "'xpsm' must be a list of raw elements")
    from procfw.icons.xpsm import check_element_ids

    try:
        elements = [RawElement.from_json(element) for element in raw]
    except ValueError as exc:
        raise _Bad(f"{where}: {exc}") from None
    try:
        check_element_ids(elements, where)
    except IconFileError as exc:
        raise _Bad(str(exc)) from None
    return elements


def _elements_from_parameters(data: dict[str, Any], warnings: list[str], where: str) -> list[RawElement]:
    """Best-effort XPSM elements for an envelope of a process that is not installed here."""
    parameters = data.get("parameters", {})
    _require(isinstance(parameters, dict), where, "'parameters' must be an object")
    if data.get("items"):
        warnings.append(f"{where}: container items of a process that is not installed are dropped")
    elements = []
    if parameters:
        warnings.append(f"{where}: the process is not installed; its parameters are kept as text "
                        "(table columns are named c0, c1, ...)")
    for name, value in parameters.items():
        _require_id(name, where, "parameter id")
        if isinstance(value, list):
            rows = [
                RawElement(tag="tr", children=[
                    RawElement(tag="td", attributes=[("id", f"c{i}"), ("value", _json_text(cell))])
                    for i, cell in enumerate(row if isinstance(row, list) else [row])
                ])
                for row in value
            ]
            elements.append(RawElement(tag="table", attributes=[("id", name), ("rows", str(len(rows)))], children=rows))
        elif isinstance(value, str):
            elements.append(RawElement(tag="parameter", attributes=[("id", name)], text=value))
        else:
            elements.append(RawElement(tag="parameter", attributes=[("id", name), ("value", _json_text(value))]))
    return elements


def _json_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else _json.dumps(value)


def loads(text: str | bytes, *, source: str = "<json>", max_bytes: int = MAX_FILE_BYTES) -> LoadResult:
    """Read a procfw-icons JSON document (or a single instance envelope)."""
    if len(text) > max_bytes:
        raise IconFileError(source, f"file is {len(text)} bytes; icon files are limited to {max_bytes} bytes")
    try:
        document = _json.loads(text)
    except _json.JSONDecodeError as exc:
        raise IconFileError(source, f"malformed JSON: {exc.msg}", line=exc.lineno, column=exc.colno) from None
    except RecursionError:
        problem = f"JSON nested too deeply to read (containers may nest {MAX_NESTING} levels)"
        raise IconFileError(source, problem) from None
    except UnicodeDecodeError as exc:
        raise IconFileError(source, f"unreadable JSON: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    result = LoadResult(source=source, format="json")
    try:
        if isinstance(document, dict) and "procfw_icon" in document:
            document = {"format": FILE_FORMAT, "version": FILE_VERSION, "icons": {"Process01": document}}
        _require(isinstance(document, dict) and document.get("format") == FILE_FORMAT, source,
                 f"not a procfw icons file (expected \"format\": \"{FILE_FORMAT}\")")
        _require(document.get("version") == FILE_VERSION, source,
                 f"unsupported procfw icons file version {document.get('version')!r} "
                 f"(this procfw reads {FILE_VERSION})")
        icons = document.get("icons")
        _require(isinstance(icons, dict), source, "'icons' must be an object of id: envelope")
        for icon_id, envelope in icons.items():
            _require_id(icon_id, source, "icon id")
            instance, meta = _from_envelope(envelope, result.warnings, f"icon {icon_id}", 0)
            result.icons[icon_id] = instance
            position = envelope.get("position") or {}
            _require(isinstance(position, dict), f"icon {icon_id}", "'position' must be an object")
            result.meta[icon_id] = IconMeta(
                xpos=_opt_int(position.get("xpos")), ypos=_opt_int(position.get("ypos")),
                workspace=position.get("workspace") if isinstance(position.get("workspace"), str) else None,
                instance=meta,
            )
    except _Bad as exc:
        raise IconFileError(source, str(exc)) from None
    except IconFileError as exc:  # from the XPSM elements of a placeholder: name this file too
        raise IconFileError(source, str(exc)) from None
    return result


def _opt_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def load(path: str | os.PathLike[str], *, max_bytes: int = MAX_FILE_BYTES) -> LoadResult:
    """Read a procfw-icons JSON file."""
    data = read_bounded(path, max_bytes)
    return loads(data, source=str(path), max_bytes=max_bytes)

