"""Derive a JSON Schema from the ETSI GS QKD 015 YANG modules (RFC 7951 JSON encoding).

qtopo does not ship the YANG modules; it ships the JSON Schema derived from them by this script, with the
provenance of the YANG files (repository, commit, file names, SHA-256, module revisions, specification
version). Run it again when the YANG modules change:

    pip install pyang
    python tools/derive_etsi_schema.py YANG_DIR --repo OWNER/NAME --commit SHA \
        --out qtopo/schemas/etsi-qkd-sdn-node.schema.json

``YANG_DIR`` holds ``etsi-qkd-sdn-node.yang`` and ``etsi-qkd-node-types.yang`` (ETSI GS QKD 015 V2.1.1,
revision 2022-01-30; BSD-3-Clause, ETSI forge repository ``qkd/gs015-ctrl-int-sdn``). The IETF modules they
import (``ietf-yang-types``, ``ietf-inet-types``) are taken from pyang's bundled copies.

Mapping (RFC 7950 data tree -> RFC 7951 JSON -> JSON Schema draft 2020-12):

- container -> object; list -> array of objects (list keys recorded as ``x-yang-key``; JSON Schema cannot say
  that keys are unique, :func:`qtopo.etsi.validate_node_document` checks it); leaf-list -> array;
- mandatory leaves and list keys -> ``required``; unknown members -> rejected (``additionalProperties:
  false``), except members of an augmenting module named by ``--augment-prefix`` (RFC 7951 section 4:
  ``module-name:member``), which the schema leaves open;
- uint8..uint32, int8..int32 -> integer with the type's range; int64, uint64 and decimal64 -> string (RFC 7951
  section 6.1), decimal64 with its fraction digits; boolean -> boolean; string -> string with the patterns of
  its typedef chain (YANG patterns are anchored XSD regular expressions); identityref -> enum of the
  ``module:identity`` names derived from its base (RFC 7951 section 6.8);
- ``when "leaf = 'VALUE'"`` on a ``uses`` (the only ``when`` form in these modules) -> ``if``/``then`` that
  forbids the member unless the sibling (or, with ``../``, the parent's sibling) has that value;
- ``config false`` (operational state, e.g. ``skr``) is kept: an exported plan states expected values.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path

INT_RANGES = {"int8": (-2**7, 2**7 - 1), "int16": (-2**15, 2**15 - 1), "int32": (-2**31, 2**31 - 1),
              "uint8": (0, 2**8 - 1), "uint16": (0, 2**16 - 1), "uint32": (0, 2**32 - 1)}
WHEN_RE = re.compile(r"^\s*((?:\.\./)*)([A-Za-z_][\w.-]*)\s*=\s*'([^']*)'\s*$")


def _load(yang_dir: Path, module: str):
    from pyang import context, repository

    import pyang

    roots = [Path(sys.prefix) / "share" / "yang" / "modules",
             Path(pyang.__file__).resolve().parents[4] / "share" / "yang" / "modules"]
    paths = [str(yang_dir)] + [str(p) for r in roots for p in sorted(r.glob("*")) if p.is_dir()]
    ctx = context.Context(repository.FileRepository(":".join(paths), use_env=False))
    text = (yang_dir / f"{module}.yang").read_text(encoding="utf-8")
    mod = ctx.add_module(f"{module}.yang", text)
    ctx.validate()
    errors = [(p, t, a) for p, t, a in ctx.errors if not t.startswith(("WUNUSED", "LINT"))]
    from pyang import error

    fatal = [e for e in errors if error.is_error(error.err_level(e[1]))]
    if mod is None or fatal:
        sys.exit("pyang could not load the module:\n" + "\n".join(f"{p}: {t} {a}" for p, t, a in fatal))
    return ctx, mod


def _identities(ctx, base) -> list[str]:
    """All identities derived (directly or not) from ``base``, as ``module:name``."""
    out = []
    for m in ctx.modules.values():
        for name, ident in m.i_identities.items():
            seen, todo = set(), [ident]
            while todo:
                s = todo.pop()
                for b in s.search("base"):
                    t = getattr(b, "i_identity", None)
                    if t is None or id(t) in seen:
                        continue
                    seen.add(id(t))
                    if t is base:
                        out.append(f"{m.arg}:{name}")
                        todo = []
                        break
                    todo.append(t)
    return sorted(set(out))


def _type_schema(ctx, type_stmt) -> dict:
    """JSON Schema of a leaf's type, following the typedef chain."""
    patterns, typedefs = [], []
    t = type_stmt
    while t is not None:
        patterns += [p.arg for p in t.search("pattern")]
        if getattr(t, "i_typedef", None) is None:
            break
        typedefs.append(f"{t.i_typedef.i_module.arg}:{t.i_typedef.arg}")
        t = t.i_typedef.search_one("type")
    name = t.arg
    s: dict
    if name in INT_RANGES:
        lo, hi = INT_RANGES[name]
        s = {"type": "integer", "minimum": lo, "maximum": hi}
    elif name in ("int64", "uint64"):
        s = {"type": "string", "pattern": r"^-?[0-9]+$" if name == "int64" else r"^[0-9]+$"}
    elif name == "decimal64":
        fd = int(t.search_one("fraction-digits").arg)
        s = {"type": "string", "pattern": rf"^-?[0-9]+(\.[0-9]{{1,{fd}}})?$"}
    elif name == "boolean":
        s = {"type": "boolean"}
    elif name == "string":
        s = {"type": "string"}
        if patterns:
            anchored = [f"^(?:{p})$" for p in patterns]
            s = {"type": "string", "allOf": [{"pattern": p} for p in anchored]} if len(anchored) > 1 else \
                {"type": "string", "pattern": anchored[0]}
    elif name == "identityref":
        base = t.search_one("base").i_identity
        s = {"type": "string", "enum": _identities(ctx, base)}
    elif name == "empty":
        s = {"type": "array", "items": {"type": "null"}, "minItems": 1, "maxItems": 1}
    else:
        raise SystemExit(f"type {name!r} is not mapped by this script; extend _type_schema")
    if typedefs:
        s["x-yang-type"] = typedefs[0]
    return s


def _when(stmt):
    """The ``when`` expression that guards ``stmt`` (its own, or that of the ``uses`` that brought it)."""
    w = stmt.search_one("when")
    if w is not None:
        return w.arg
    for u in getattr(stmt, "i_uses", None) or []:
        w = u.search_one("when")
        if w is not None:
            return w.arg
    return None


def _node(ctx, stmt, prefix: str | None, conditions: list, depth: int) -> dict:
    kw = stmt.keyword
    desc = stmt.search_one("description")
    if kw in ("leaf", "leaf-list"):
        s = _type_schema(ctx, stmt.search_one("type"))
        if kw == "leaf-list":
            s = {"type": "array", "items": s}
    elif kw in ("container", "list"):
        s = _object(ctx, stmt, prefix, depth + 1)
        if kw == "list":
            key = stmt.search_one("key")
            s = {"type": "array", "items": s}
            if key is not None:
                s["x-yang-key"] = key.arg.split()
    else:
        raise SystemExit(f"statement {kw!r} ({stmt.arg}) is not mapped by this script")
    if desc is not None:
        s["description"] = " ".join(desc.arg.split())
    if stmt.search_one("config") is not None and stmt.search_one("config").arg == "false":
        s["x-yang-config"] = False
    w = _when(stmt)
    if w is not None:
        m = WHEN_RE.match(w)
        if m is None:
            s["$comment"] = f"YANG when {w!r} is not enforced by this schema"
        else:
            conditions.append((len(m.group(1)) // 3, m.group(2), m.group(3), stmt.arg))
    return s


def _object(ctx, stmt, prefix, depth) -> dict:
    props, required, conds = {}, [], []
    for ch in stmt.i_children:
        if ch.keyword in ("choice", "case"):
            raise SystemExit(f"choice/case ({ch.arg}) is not mapped by this script")
        sub: list = []
        props[ch.arg] = _node(ctx, ch, prefix, sub, depth)
        for up, leaf, value, member in sub:
            conds.append((up, leaf, value, member))
        m = ch.search_one("mandatory")
        if (m is not None and m.arg == "true") or (stmt.keyword == "list" and ch.arg in
                                                   (stmt.search_one("key").arg.split() if stmt.search_one("key") else [])):
            required.append(ch.arg)
    s = {"type": "object", "properties": props, "additionalProperties": False}
    if prefix:
        s["patternProperties"] = {f"^{re.escape(prefix)}:": {}}
    if required:
        s["required"] = required
    rules = []
    for up, leaf, value, member in conds:
        ident = [e for e in props.get(leaf, {}).get("enum", []) if e.split(":", 1)[-1] == value]
        val = ident[0] if ident else value
        rule = {"if": {"required": [leaf], "properties": {leaf: {"const": val}}}, "else": {"not": {"required": [member]}}}
        if up == 0:
            rules.append(rule)
        else:  # a member of a child container guarded by this object's leaf: recorded for the parent pass
            s.setdefault("x-pending", []).append((up - 1, leaf, value, member))
    # conditions from child containers that refer one level up to this object's leaves
    for name, p in props.items():
        obj = p.get("items", p)
        for up, leaf, value, member in obj.pop("x-pending", []) if isinstance(obj, dict) else []:
            ident = [e for e in props.get(leaf, {}).get("enum", []) if e.split(":", 1)[-1] == value]
            val = ident[0] if ident else value
            if up == 0:
                rules.append({"if": {"required": [leaf], "properties": {leaf: {"const": val}}},
                              "else": {"properties": {name: {"not": {"required": [member]}}}}})
    if rules:
        s["allOf"] = rules
    return s


def derive(yang_dir: Path, repo: str, commit: str, augment_prefix: str | None) -> dict:
    ctx, mod = _load(yang_dir, "etsi-qkd-sdn-node")
    tops = [ch for ch in mod.i_children if ch.keyword == "container"]
    props = {f"{mod.arg}:{ch.arg}": _node(ctx, ch, augment_prefix, [], 0) for ch in tops}
    files = {}
    for name in ("etsi-qkd-sdn-node.yang", "etsi-qkd-node-types.yang"):
        data = (yang_dir / name).read_bytes()
        m = ctx.get_module(name[:-5])
        files[name] = {"sha256": hashlib.sha256(data).hexdigest(),
                       "revision": m.search_one("revision").arg, "namespace": m.search_one("namespace").arg}
    rev = mod.search_one("revision")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:qtopo:schema:etsi-qkd-sdn-node:derived",
        "title": "ETSI GS QKD 015 etsi-qkd-sdn-node instance document (RFC 7951 JSON), derived",
        "description": "Derived by tools/derive_etsi_schema.py from the YANG modules named in x-provenance. "
                       "Not an ETSI deliverable: the YANG modules are normative.",
        "x-provenance": {
            "specification": rev.search_one("reference").arg if rev.search_one("reference") else None,
            "module": mod.arg, "module_revision": rev.arg, "yang_files": files,
            "source_repository": repo, "source_commit": commit,
            "upstream": "ETSI forge repository qkd/gs015-ctrl-int-sdn (BSD-3-Clause, Copyright 2022 ETSI)",
            "derived_with": "pyang " + __import__("pyang").__version__,
            "augment_prefix": augment_prefix,
        },
        "type": "object",
        "properties": props,
        "required": list(props),
        "additionalProperties": False,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("yang_dir", type=Path)
    ap.add_argument("--repo", required=True, help="repository the YANG files were taken from (owner/name)")
    ap.add_argument("--commit", required=True, help="commit of that repository")
    ap.add_argument("--augment-prefix", default="qtopo-plan", help="module name whose members stay open")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args(argv)
    schema = derive(a.yang_dir, a.repo, a.commit, a.augment_prefix)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(schema, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    print(f"wrote {a.out} ({len(json.dumps(schema))} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
