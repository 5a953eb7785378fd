"""``/docs``: the API's documentation as a plain page written from the OpenAPI document.

Replaces the ReDoc page flask-smorest would serve (a script fetched from a CDN: blank without
internet, and needing inline styles a strict Content-Security-Policy forbids). Everything comes
from ``/openapi.json`` (the same ``Api`` object), so the page cannot drift from the document.
"""

from __future__ import annotations

from typing import Any

METHODS = ("get", "post", "put", "patch", "delete")


def operations(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Every operation of the document in path order, with what a reader needs of it."""
    out = []
    for path, item in spec["paths"].items():
        shared = item.get("parameters", [])
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            out.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "anchor": f"{method}-{path}".replace("/", "-")
                    .replace("{", "")
                    .replace("}", ""),
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "tag": (op.get("tags") or [""])[0],
                    "parameters": [_parameter(p) for p in [*shared, *op.get("parameters", [])]],
                    "body": _schema_name(op.get("requestBody", {})),
                    "responses": [
                        (code, r.get("description", ""), _schema_name(r))
                        for code, r in sorted(op.get("responses", {}).items())
                        if "$ref" not in r
                    ],
                }
            )
    return out


def _parameter(p: dict[str, Any]) -> dict[str, str]:
    schema = p.get("schema", {})
    rule = schema.get("pattern") or schema.get("type", "")
    if "enum" in schema:
        rule = " | ".join(str(v) for v in schema["enum"])
    if "minimum" in schema or "maximum" in schema:
        rule = f"{rule} {schema.get('minimum', '')}..{schema.get('maximum', '')}"
    return {
        "name": p["name"],
        "in": p["in"],
        "required": "required" if p.get("required") else "optional",
        "rule": rule,
        "description": p.get("description", ""),
    }


def _schema_name(part: dict[str, Any]) -> str:
    for media, body in part.get("content", {}).items():
        ref = body.get("schema", {}).get("$ref", "")
        return f"{ref.rsplit('/', 1)[-1]} ({media})" if ref else media
    return ""


def schemas(spec: dict[str, Any]) -> list[tuple[str, list[dict[str, str]]]]:
    """Each component schema with its properties: name, type, required."""
    out = []
    for name, schema in sorted(spec.get("components", {}).get("schemas", {}).items()):
        required = set(schema.get("required", []))
        props = []
        for prop, value in schema.get("properties", {}).items():
            kind = value.get("type", "")
            if "$ref" in value:
                kind = value["$ref"].rsplit("/", 1)[-1]
            elif kind == "array" and "$ref" in value.get("items", {}):
                kind = "array of " + value["items"]["$ref"].rsplit("/", 1)[-1]
            props.append(
                {
                    "name": prop,
                    "type": kind + (" or null" if value.get("nullable") else ""),
                    "required": "required" if prop in required else "optional",
                    "description": value.get("description", ""),
                }
            )
        out.append((name, props))
    return out
