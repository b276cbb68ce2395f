"""Reference tables for docs/reference.md, generated from the code so the docs cannot drift from it.

    python -m agent.reference config|topics|commands    print one table
    python -m agent.reference --write                   refresh docs/reference.md's tables and docs/schemas/

`tests/test_docs.py` checks that docs/reference.md holds exactly these tables.
"""

from __future__ import annotations

import json
import re
import sys
import types
import typing
from pathlib import Path

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from agent.commands import AnyCommand
from agent.config import AgentConfig, Point
from agent.topics import TOPICS


def _type_name(annotation: object) -> str:
    if annotation == Point:
        return "point [x, y]"
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(annotation))
    if origin is typing.Literal:
        return " or ".join(f"`{a!r}`" for a in typing.get_args(annotation))
    if origin is not None:
        args = ", ".join(_type_name(a) for a in typing.get_args(annotation))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    return getattr(annotation, "__name__", str(annotation)).replace("NoneType", "None")


def _default(field: object) -> str:
    default = getattr(field, "default", PydanticUndefined)
    if default is PydanticUndefined:
        factory = getattr(field, "default_factory", None)
        if factory is None:
            return "(required)"
        default = factory()
    if isinstance(default, Path):
        default = str(default)
    return f"`{json.dumps(default)}`" if default is not None else "none"


def _section_rows(model: type[BaseModel], prefix: str) -> list[str]:
    rows = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        annotation = field.annotation
        nested = [a for a in (annotation, *typing.get_args(annotation)) if isinstance(a, type)
                  and issubclass(a, BaseModel)]
        if nested and name not in ("cameras",):
            rows.extend(_section_rows(nested[0], f"{key}."))
            continue
        if name == "cameras":
            rows.append(f"| `[[cameras]]` | list | (required) | {field.description} |")
            rows.extend(_section_rows(nested[0] if nested else typing.get_args(annotation)[0], "cameras[]."))
            continue
        default = "hostname" if name == "device_id" else _default(field)
        rows.append(f"| `{key}` | {_type_name(annotation)} | {default} | {field.description or ''} |")
    return rows


def config_reference() -> str:
    header = ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
    return "\n".join(header + _section_rows(AgentConfig, ""))


def topics_reference() -> str:
    rows = ["| topic | QoS | retained | payload |", "| --- | --- | --- | --- |"]
    for spec in TOPICS.values():
        payload = spec.payload.__name__ if spec.payload else "text/JSON"
        rows.append(f"| `<prefix>/<device_id>/{spec.suffix}` | {spec.qos} | {'yes' if spec.retain else 'no'} | "
                    f"{payload}: {spec.description} |")
    return "\n".join(rows)


def commands_reference() -> str:
    rows = ["| action | field | type | meaning |", "| --- | --- | --- | --- |"]
    for model in typing.get_args(AnyCommand):
        action = typing.get_args(model.model_fields["action"].annotation)[0]
        for name, field in model.model_fields.items():
            if name == "action":
                continue
            rows.append(f"| `{action}` | `{name}` | {_type_name(field.annotation)} | {field.description or ''} |")
    return "\n".join(rows)


TABLES = {"config": config_reference, "topics": topics_reference, "commands": commands_reference}


def json_schemas() -> dict[str, dict]:
    """Every JSON Schema a subscriber, operator or tool may need, by file name under docs/schemas/."""
    from agent.commands import COMMAND_ADAPTER, CommandResult
    from agent.topics import payload_schemas
    from models.manifest import Manifest

    return {
        "config.json": AgentConfig.model_json_schema(),
        "topics.json": payload_schemas(),
        "command.json": COMMAND_ADAPTER.json_schema(),
        "command-result.json": CommandResult.model_json_schema(),
        "manifest.json": Manifest.model_json_schema(),
    }


REFERENCE_DOC = Path("docs") / "reference.md"


def render_reference(text: str) -> str:
    """`text` with every `<!-- reference:NAME -->` block replaced by the current table."""
    for name, table in TABLES.items():
        pattern = re.compile(rf"(<!-- reference:{name} -->\n).*?(<!-- /reference:{name} -->)", re.S)
        rendered = table()
        text = pattern.sub(lambda m, body=rendered: f"{m.group(1)}{body}\n{m.group(2)}", text)
    return text


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if args == ["--write"]:
        root = Path(__file__).resolve().parents[1]
        reference = root / REFERENCE_DOC
        reference.write_text(render_reference(reference.read_text()))
        (root / "docs" / "schemas").mkdir(parents=True, exist_ok=True)
        for name, schema in json_schemas().items():
            (root / "docs" / "schemas" / name).write_text(json.dumps(schema, indent=2) + "\n")
        return 0
    if not args or args[0] not in TABLES:
        print(f"usage: python -m agent.reference {{{','.join(TABLES)}}} | --write", file=sys.stderr)
        return 2
    print(TABLES[args[0]]())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
