"""PixInsight XPSM 1.0 process icon files: read and written.

A file is ``<xpsm>`` holding ``<instance class version id>`` elements (parameters as
``<parameter id value/>`` or element text, tables as ``<table id rows><tr><td id value/>``,
optional ``<description>`` and ``<time start span/>``; a ProcessContainer nests its
children as ``<instance class version enabled>``) followed by ``<icon id instance xpos
ypos workspace/>`` elements.  Both namespaces (``http://www.pixinsight.com/xpsm`` and the
older ``http://www.pixinsight.com``) and none are read; the modern one is written.

Instances of registered processes become typed, validated instances (process, parameter
and enumeration aliases resolved; missing parameters take defaults; unknown parameters
are ignored with a warning, as PixInsight does).  Anything else becomes a
:class:`~procfw.unknown.UnknownProcess` placeholder that writes back unchanged.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Iterable, Mapping
from typing import Any

import procfw
from procfw.container import ContainerItem, ProcessContainer
from procfw.errors import ProcfwError, UnknownNameError
from procfw.icons.lookup import is_container, process_class
from procfw.icons.model import (
    MAX_NESTING,
    IconFileError,
    IconMeta,
    InstanceMeta,
    LoadResult,
    check_identifier,
    check_nesting,
    not_for_pixinsight,
    read_bounded,
)
from procfw.icons.safexml import MAX_DEPTH, MAX_FILE_BYTES, parse_xml, write_element
from procfw.params import Block, ParameterKind, String, Table
from procfw.process import Process
from procfw.unknown import RawElement, UnknownProcess

__all__ = [
    "OLD_NAMESPACE",
    "XPSM_NAMESPACE",
    "check_element_ids",
    "dumps",
    "element_to_instance",
    "instance_to_element",
    "load",
    "loads",
    "metadata_from_elements",
]

XPSM_NAMESPACE = "http://www.pixinsight.com/xpsm"
OLD_NAMESPACE = "http://www.pixinsight.com"
_NAMESPACES = (XPSM_NAMESPACE, OLD_NAMESPACE)
_SCHEMA_LOCATION = f"{XPSM_NAMESPACE} http://pixinsight.com/xpsm/xpsm-1.0.xsd"
_RULE = "*" * 68
_METADATA_TAGS = ("description", "time")
_ID_TAGS = ("parameter", "table", "td")


def _local(tag: str) -> str:
    return tag.rsplit(":", 1)[-1]


# -- reading ------------------------------------------------------------------------------
def load(path: str | os.PathLike[str], *, max_bytes: int = MAX_FILE_BYTES, max_depth: int = MAX_DEPTH) -> LoadResult:
    """Read an XPSM file (size checked before reading)."""
    data = read_bounded(path, max_bytes)
    return loads(data, source=str(path), max_bytes=max_bytes, max_depth=max_depth)


def loads(
    data: bytes | str, *, source: str = "<xpsm>", max_bytes: int = MAX_FILE_BYTES, max_depth: int = MAX_DEPTH
) -> LoadResult:
    """Read XPSM text; returns the icons in file order, their metadata and warnings."""
    root = parse_xml(data, source=source, max_bytes=max_bytes, max_depth=max_depth)
    _check_root(root, source)
    result = LoadResult(source=source, format="xpsm")
    namespace = root.get("xmlns")
    if namespace is not None and namespace not in _NAMESPACES:
        result.warnings.append(f"{source}:{root.line}: unexpected XPSM namespace {namespace!r}; read anyway")
    instances: dict[str, RawElement] = {}
    icons: list[RawElement] = []
    for child in root.children:
        tag = _local(child.tag)
        if tag == "instance":
            iid = child.get("id")
            if not iid:
                result.warnings.append(f"{source}:{child.line}: <instance> without an id; ignored")
                continue
            check_identifier(iid, "instance id", source, line=child.line, column=child.column)
            if iid in instances:
                result.warnings.append(f"{source}:{child.line}: duplicate instance id {iid!r}; the first is kept")
            else:
                instances[iid] = child
        elif tag == "icon":
            icons.append(child)
        else:
            result.warnings.append(f"{source}:{child.line}: element <{child.tag}> is not part of XPSM; ignored")
    converted: dict[str, tuple[Process, InstanceMeta]] = {}
    used: set[str] = set()
    for icon in icons:
        _read_icon(icon, instances, converted, used, result)
    for iid, element in instances.items():
        if iid in used:
            continue
        base = iid[: -len("_instance")] if iid.endswith("_instance") and len(iid) > 9 else iid
        icon_id = base if base not in result.icons else _unique(base, result.icons)
        result.warnings.append(
            f"{source}:{element.line}: instance {iid!r} has no <icon>; loaded as icon {icon_id!r}"
        )
        instance, meta = element_to_instance(element, result.warnings, source=source)
        result.icons[icon_id] = instance
        result.meta[icon_id] = IconMeta(instance=meta)
    return result


def _unique(base: str, taken: Mapping[str, Any]) -> str:
    n = 1
    while f"{base}_{n}" in taken:
        n += 1
    return f"{base}_{n}"


def _check_root(root: RawElement, source: str) -> None:
    tag = _local(root.tag)
    if tag == "xosm":
        raise IconFileError(
            source, "this is a PixInsight object/project file (XOSM), not a process icon file (XPSM)", line=root.line
        )
    if tag != "xpsm":
        raise IconFileError(source, f"not an XPSM file: the root element is <{root.tag}>, not <xpsm>", line=root.line)


def _int_attribute(element: RawElement, name: str, warnings: list[str], source: str) -> int | None:
    text = element.get(name)
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        warnings.append(f"{source}:{element.line}: <{element.tag}> {name}={text!r} is not an integer; ignored")
        return None


def _read_icon(
    icon: RawElement,
    instances: Mapping[str, RawElement],
    converted: dict[str, tuple[Process, InstanceMeta]],
    used: set[str],
    result: LoadResult,
) -> None:
    source = result.source
    icon_id, ref = icon.get("id"), icon.get("instance")
    if not icon_id or not ref:
        result.warnings.append(f"{source}:{icon.line}: <icon> without id or instance; ignored")
        return
    check_identifier(icon_id, "icon id", source, line=icon.line, column=icon.column)
    check_identifier(ref, "instance id", source, line=icon.line, column=icon.column)
    if ref not in instances:
        result.warnings.append(f"{source}:{icon.line}: icon {icon_id!r} names a missing instance {ref!r}; ignored")
        return
    if icon_id in result.icons:
        result.warnings.append(f"{source}:{icon.line}: duplicate icon id {icon_id!r}; the first is kept")
        return
    if ref not in converted:
        converted[ref] = element_to_instance(instances[ref], result.warnings, source=source)
    used.add(ref)
    instance, meta = converted[ref]
    result.icons[icon_id] = instance
    result.meta[icon_id] = IconMeta(
        xpos=_int_attribute(icon, "xpos", result.warnings, source),
        ypos=_int_attribute(icon, "ypos", result.warnings, source),
        workspace=icon.get("workspace"),
        instance=meta,
    )


def metadata_from_elements(elements: tuple[RawElement, ...], class_id: str, version: int | None) -> InstanceMeta:
    """The description and time found among an instance's child ``elements``."""
    description = None
    time = None
    for child in elements:
        if child.tag == "description":
            description = child.text or ""
        elif child.tag == "time":
            time = (child.get("start") or "", child.get("span") or "")
    return InstanceMeta(class_id=class_id, version=version, description=description, time=time)


def _where(element: RawElement) -> tuple[int | None, int | None]:
    return (element.line or None, element.column or None)


def check_element_ids(elements: Iterable[RawElement], source: str) -> None:
    """Refuse (IconFileError naming source, line and id) any ``class`` of an ``<instance>``
    and any ``id`` of a ``<parameter>``, ``<table>`` or ``<td>`` among ``elements`` and
    their descendants that is not an identifier."""
    for top in elements:
        for element in top.walk():
            tag = _local(element.tag)
            line, column = _where(element)
            if tag == "instance" and element.get("class") is not None:
                check_identifier(element.get("class"), "process id", source, line=line, column=column)
            elif tag in _ID_TAGS and element.get("id") is not None:
                check_identifier(element.get("id"), f"<{tag}> id", source, line=line, column=column)


def element_to_instance(
    element: RawElement, warnings: list[str], *, source: str = "<xpsm>", depth: int = 0
) -> tuple[Process, InstanceMeta]:
    """One ``<instance>`` element as a typed instance (or a placeholder) and its metadata.

    Problems that PixInsight would tolerate (unknown parameters, odd elements) are
    appended to ``warnings``; an instance of a registered process whose values break its
    schema is kept as a placeholder, with a warning, so that nothing is lost.  Ids that are
    not identifiers (process, parameter, table and cell ids) and containers nested deeper
    than :data:`~procfw.icons.model.MAX_NESTING` (``depth`` counts the containers around
    ``element``) are refused with an :class:`IconFileError`.
    """
    class_id = element.get("class")
    line, column = _where(element)
    if not class_id:
        raise IconFileError(source, "<instance> without a class attribute", line=line, column=column)
    check_identifier(class_id, "process id", source, line=line, column=column)
    version = _int_attribute(element, "version", warnings, source)
    cls = process_class(class_id)
    meta = metadata_from_elements(element.children, class_id, version)
    if cls is None or not is_container(cls):
        check_element_ids(element.children, source)
    elif depth >= MAX_NESTING:
        raise IconFileError(source, f"{class_id}: containers nested deeper than {MAX_NESTING} levels (the limit)",
                            line=line, column=column)
    if cls is None:
        return UnknownProcess(class_id=class_id, class_version=version, elements=element.children), meta
    where = f"{source}:{element.line}: {class_id}"
    try:
        if is_container(cls):
            instance, children_meta = _read_container(cls, element, warnings, source, where, depth)
            meta = InstanceMeta(class_id=cls.process_id, version=version, description=meta.description,
                                time=meta.time, children=children_meta)
            return instance, meta
        custom = getattr(cls, "from_xpsm_elements", None)  # a process with its own XPSM form (ImageContainer)
        values = custom(element.children, warnings, where) if callable(custom) else _read_parameters(
            cls, element, warnings, where)
        instance = cls.from_parameters(values)
    except IconFileError:
        raise
    except (ProcfwError, ValueError, TypeError) as exc:
        warnings.append(f"{where}: invalid instance kept as a placeholder: {exc}")
        return UnknownProcess(class_id=class_id, class_version=version, elements=element.children), meta
    return instance, InstanceMeta(class_id=cls.process_id, version=version, description=meta.description,
                                  time=meta.time)


def _read_container(
    cls: type[Process], element: RawElement, warnings: list[str], source: str, where: str, depth: int
) -> tuple[Process, list[InstanceMeta | None]]:
    items: list[ContainerItem] = []
    metas: list[InstanceMeta | None] = []
    for child in element.children:
        if child.tag in _METADATA_TAGS:
            continue
        if child.tag != "instance":
            warnings.append(f"{source}:{child.line}: {cls.process_id}: element <{child.tag}> ignored")
            continue
        enabled_text = (child.get("enabled") or "true").strip().lower()
        if enabled_text not in ("true", "false"):
            warnings.append(f"{source}:{child.line}: enabled={enabled_text!r} is not true/false; taken as true")
        instance, meta = element_to_instance(child, warnings, source=source, depth=depth + 1)
        items.append(ContainerItem(instance=instance, enabled=enabled_text != "false"))
        metas.append(meta)
    return cls(items=items), metas


def _cell_text(element: RawElement) -> str:
    value = element.get("value")
    return value if value is not None else (element.text or "")


def _read_parameters(cls: type[Process], element: RawElement, warnings: list[str], where: str) -> dict[str, Any]:
    schema = cls.schema()
    values: dict[str, Any] = {}
    for child in element.children:
        if child.tag in _METADATA_TAGS:
            continue
        if child.tag not in ("parameter", "table"):
            warnings.append(f"{where}: element <{child.tag}> (line {child.line}) ignored")
            continue
        raw_id = child.get("id") or ""
        try:
            pid = cls.parameter_id(raw_id)
        except UnknownNameError:
            warnings.append(f"{where}: unknown parameter {raw_id!r} (line {child.line}) ignored")
            continue
        kind = schema[pid]
        if child.tag == "table":
            if not isinstance(kind, Table):
                raise ValueError(f"parameter {pid} is not a table, but line {child.line} gives a <table>")
            values[pid] = _read_table(kind, child, warnings, where)
        else:
            if isinstance(kind, Table):
                raise ValueError(f"parameter {pid} is a table, but line {child.line} gives a <parameter>")
            values[pid] = kind.parse(_cell_text(child))
    return values


def _read_table(kind: Table, element: RawElement, warnings: list[str], where: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for tr in element.children:
        if tr.tag != "tr":
            warnings.append(f"{where}: table {kind.id}: element <{tr.tag}> (line {tr.line}) ignored")
            continue
        cells: dict[str, Any] = {}
        for td in tr.children:
            cell_id = td.get("id") or ""
            try:
                column = kind.column(cell_id)
            except ProcfwError:
                warnings.append(f"{where}: table {kind.id}: unknown column {cell_id!r} (line {td.line}) ignored")
                continue
            cells[column.id] = column.parse(_cell_text(td))
        rows.append(cells)
    declared = element.get("rows")
    if declared is not None and declared.strip() != str(len(rows)):
        warnings.append(f"{where}: table {kind.id} declares rows={declared!r} but has {len(rows)} rows")
    return rows


# -- writing ------------------------------------------------------------------------------
def _is_text_kind(kind: ParameterKind) -> bool:
    return isinstance(kind, (String, Block))


def _value_element(tag: str, kind: ParameterKind, value: Any) -> RawElement:
    text = kind.format(value)
    if _is_text_kind(kind):
        return RawElement(tag=tag, attributes=[("id", kind.id)], text=text)
    return RawElement(tag=tag, attributes=[("id", kind.id), ("value", text)])


def _table_element(kind: Table, rows: Any) -> RawElement:
    trs = [
        RawElement(tag="tr", children=[_value_element("td", col, cell) for col, cell in zip(kind.columns, row)])
        for row in rows
    ]
    return RawElement(tag="table", attributes=[("id", kind.id), ("rows", str(len(trs)))], children=trs)


def _metadata_elements(meta: InstanceMeta | None) -> list[RawElement]:
    out = []
    if meta is not None and meta.description is not None:
        out.append(RawElement(tag="description", text=meta.description))
    if meta is not None and meta.time is not None:
        out.append(RawElement(tag="time", attributes=[("start", meta.time[0]), ("span", meta.time[1])]))
    return out


def instance_to_element(
    instance: Process,
    meta: InstanceMeta | None = None,
    *,
    extra: list[tuple[str, str]] | None = None,
    warnings: list[str] | None = None,
) -> RawElement:
    """``instance`` as an ``<instance>`` element in PixInsight's order.

    ``extra`` attributes follow ``class`` and ``version`` (``id`` for a top-level instance,
    ``enabled`` for a container child).  Parameters and tables come in schema order;
    values are written with each parameter's precision.  Placeholders write their raw
    elements unchanged.
    """
    extra = list(extra or [])
    warnings = warnings if warnings is not None else []
    if meta is not None and not meta.applies_to(instance.process_id):
        meta = None
    if isinstance(instance, UnknownProcess):
        # what the reader would refuse is not written either
        check_identifier(instance.class_id, "process id", "<xpsm>")
        check_element_ids(instance.elements, "<xpsm>")
        head = [("class", instance.class_id)]
        if instance.class_version is not None:
            head.append(("version", str(instance.class_version)))
        return RawElement(tag="instance", attributes=head + extra, children=instance.elements)
    head = [("class", instance.process_id)]
    version = meta.version if meta is not None and meta.version is not None else None
    custom = getattr(instance, "to_xpsm_elements", None)  # its own XPSM form, written without a version
    if version is None and not is_container(instance) and not callable(custom):
        version = instance.process_version
    if version is not None:
        head.append(("version", str(version)))
    children = _metadata_elements(meta)
    if callable(custom):
        children.extend(custom())
    elif isinstance(instance, ProcessContainer):
        for index, item in enumerate(instance.items):
            if item.mask is not None:
                warnings.append(
                    f"{instance.process_id} child {index} ({item.instance.process_id}): its mask "
                    f"{item.mask.window_id!r} cannot be stored in XPSM; dropped"
                )
            child_meta = meta.child(index) if meta is not None else None
            enabled = [("enabled", "true" if item.enabled else "false")]
            children.append(instance_to_element(item.instance, child_meta, extra=enabled, warnings=warnings))
    else:
        for pid, kind in type(instance).schema().items():
            value = getattr(instance, pid)
            if isinstance(kind, Table):
                children.append(_table_element(kind, value))
            else:
                children.append(_value_element("parameter", kind, value))
    return RawElement(tag="instance", attributes=head + extra, children=children)


def _header(generated: str | None) -> list[str]:
    stamp = generated or _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return [
        '<?xml version="1.0" encoding="UTF-8"?>',
        "<!--",
        _RULE,
        "PixInsight XML Process Serialization Module - XPSM 1.0",
        _RULE,
        f"Generated on {stamp}",
        f"procfw {procfw.__version__}",
        _RULE,
        "-->",
        f'<xpsm version="1.0" xmlns="{XPSM_NAMESPACE}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xsi:schemaLocation="{_SCHEMA_LOCATION}">',
    ]


def dumps(
    icons: Mapping[str, Process],
    *,
    meta: Mapping[str, IconMeta] | None = None,
    generated: str | None = None,
    warnings: list[str] | None = None,
) -> str:
    """The XPSM text of ``icons`` (UTF-8 when encoded), with positions and metadata from ``meta``.

    ``generated`` replaces the timestamp in the header comment (for reproducible output);
    things that XPSM cannot hold (container child masks) and processes PixInsight cannot
    load (procfw's own, ``Process.pixinsight`` false) are reported in ``warnings``.
    """
    meta = meta or {}
    warnings = warnings if warnings is not None else []
    lines = _header(generated)
    icon_lines: list[str] = []
    for index, (icon_id, instance) in enumerate(icons.items()):
        icon_meta = meta.get(icon_id)
        instance_id = f"{icon_id}_instance"
        check_nesting(instance, "<xpsm>", f"icon {icon_id}")
        warnings.extend(not_for_pixinsight(icon_id, instance))
        try:
            element = instance_to_element(
                instance, icon_meta.instance if icon_meta else None, extra=[("id", instance_id)], warnings=warnings
            )
            write_element(element, lines, 1)
            icon = RawElement(tag="icon", attributes=[
                ("id", icon_id),
                ("instance", instance_id),
                ("xpos", str(icon_meta.xpos if icon_meta and icon_meta.xpos is not None else 8)),
                ("ypos", str(icon_meta.ypos if icon_meta and icon_meta.ypos is not None else 8 + 27 * index)),
                ("workspace", icon_meta.workspace if icon_meta and icon_meta.workspace else "Workspace01"),
            ])
            write_element(icon, icon_lines, 1)
        except IconFileError as exc:
            raise IconFileError("<xpsm>", f"icon {icon_id}: {exc.problem}") from None
        except ValueError as exc:
            raise IconFileError("<xpsm>", f"icon {icon_id}: {exc}") from None
    lines.extend(icon_lines)
    lines.append("</xpsm>")
    return "\n".join(lines) + "\n"
