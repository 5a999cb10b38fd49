#!/usr/bin/env python3
"""Renders a Helm chart that uses a small subset of Go templates, like `helm template`.

    Deploy/helm/render.py CHART_DIR [--name RELEASE] [--namespace NS] [-f VALUES.yaml ...]
                          [--set key=value[,key=value...] ...] [--notes]

Prints the rendered multi-document YAML (each document headed by `# Source: CHART/templates/FILE`);
with --notes, prints the rendered NOTES.txt after it. Every document must parse as a YAML mapping.

The subset, and nothing else (anything else is an error, never silently passed through):
  {{ .Values.a.b }}  {{ .Release.Name }}  {{ .Release.Namespace }}  {{ .Chart.Name }}
  {{ .Chart.Version }}  {{ .Chart.AppVersion }}  {{ . }} (inside range)
  {{ include "name" . }}              of a template from {{- define "name" -}} … {{- end }}
  {{ toYaml .Values.x }}
  … | quote    … | nindent N          (chained, in that form)
  {{- if .Values.x }} … {{- end }}    {{- if not .Values.x }} … {{- end }}
  {{- range .Values.list }} … {{ . }} … {{- end }}
  {{/* comments */}}                  and the `{{-` / `-}}` whitespace trimming of Go templates.

Stricter than Helm where it catches mistakes: printing a value that is not set (Helm prints
`<no value>`) and reading below a value that is not a mapping are errors.

Needs PyYAML; when the running interpreter lacks it, re-runs itself with the repository's .venv
Python (scripts/setup installs PyYAML there).
"""
import json
import os
import re
import sys

try:
    import yaml
except ImportError:  # pragma: no cover - depends on the machine
    venv_python = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".venv", "bin", "python")
    venv_python = os.path.normpath(venv_python)
    if os.path.exists(venv_python) and os.path.realpath(sys.executable) != os.path.realpath(venv_python) \
            and not os.environ.get("BCS_RENDER_REEXEC"):
        os.environ["BCS_RENDER_REEXEC"] = "1"
        os.execv(venv_python, [venv_python] + sys.argv)
    sys.exit("render.py: PyYAML is missing (run scripts/setup, or pip install PyYAML)")


class TemplateError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Lexing: text and actions, with Go's trim markers ("{{- " trims whitespace before, " -}}" after).

ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)


def lex(source, name):
    tokens = []  # ("text", str) | ("action", str, line)
    pos = 0
    trim_next = False
    for match in ACTION.finditer(source):
        text = source[pos:match.start()]
        if trim_next:
            text = text.lstrip()
        if match.group(1):
            text = text.rstrip()
        if text:
            tokens.append(("text", text))
        body = match.group(2).strip()
        line = source.count("\n", 0, match.start()) + 1
        if "{{" in body:
            raise TemplateError(f"{name}:{line}: unterminated action")
        tokens.append(("action", body, line))
        trim_next = bool(match.group(3))
        pos = match.end()
    text = source[pos:]
    if trim_next:
        text = text.lstrip()
    if "{{" in text or "}}" in text:
        line = source.count("\n", 0, pos) + 1
        raise TemplateError(f"{name}:{line}: malformed action (a '{{{{' or '}}}}' without its pair)")
    if text:
        tokens.append(("text", text))
    return tokens


# ---------------------------------------------------------------------------------------------
# Parsing into a tree: ("text", s) | ("out", pipeline, line) | ("if", negate, ref, body, line)
#                      | ("range", ref, body, line); defines are collected separately.

def parse(tokens, name, defines):
    root = []
    stack = [("root", root, 0)]
    for token in tokens:
        if token[0] == "text":
            stack[-1][1].append(("text", token[1]))
            continue
        _, body, line = token
        where = f"{name}:{line}"
        if body.startswith("/*"):
            if not body.endswith("*/"):
                raise TemplateError(f"{where}: unterminated comment")
            continue
        words = body.split(None, 1)
        keyword = words[0] if words else ""
        rest = words[1].strip() if len(words) > 1 else ""
        if keyword == "end":
            if rest or len(stack) == 1:
                raise TemplateError(f"{where}: unexpected {{{{ end }}}}")
            kind, children, meta = stack.pop()
            if kind == "define":
                defines[meta] = children
            else:
                parent = stack[-1][1]
                if kind == "if":
                    negate, ref, start = meta
                    parent.append(("if", negate, ref, children, start))
                else:
                    ref, start = meta
                    parent.append(("range", ref, children, start))
        elif keyword == "define":
            m = re.fullmatch(r'"([^"]+)"', rest)
            if not m or len(stack) != 1:
                raise TemplateError(f"{where}: define must be top-level and name a template in quotes")
            stack.append(("define", [], m.group(1)))
        elif keyword == "if":
            negate = False
            if rest.startswith("not "):
                negate, rest = True, rest[4:].strip()
            if not is_reference(rest):
                raise TemplateError(f"{where}: unsupported condition {rest!r} (only `if .Values.x` / `if not .Values.x`)")
            stack.append(("if", [], (negate, rest, line)))
        elif keyword == "range":
            if not rest.startswith(".Values.") or not is_reference(rest):
                raise TemplateError(f"{where}: unsupported range {rest!r} (only `range .Values.list`)")
            stack.append(("range", [], (rest, line)))
        elif keyword in ("else", "with", "template", "block", "tpl") or keyword.startswith("$"):
            raise TemplateError(f"{where}: unsupported construct {{{{ {body} }}}}")
        else:
            stack[-1][1].append(("out", parse_pipeline(body, where), line))
    if len(stack) != 1:
        kind, _, meta = stack[-1]
        raise TemplateError(f"{name}: {kind} is never closed with {{{{ end }}}}")
    return root


REFERENCE = re.compile(r"\.|(\.(Values|Release|Chart)(\.[A-Za-z_][A-Za-z0-9_]*)*)")


def is_reference(text):
    return bool(REFERENCE.fullmatch(text))


def parse_pipeline(body, where):
    stages = [stage.strip() for stage in body.split("|")]
    head = stages[0]
    if m := re.fullmatch(r'include\s+"([^"]+)"\s+\.', head):
        source = ("include", m.group(1))
    elif m := re.fullmatch(r"toYaml\s+(\S+)", head):
        if not is_reference(m.group(1)):
            raise TemplateError(f"{where}: unsupported toYaml argument {m.group(1)!r}")
        source = ("toYaml", m.group(1))
    elif is_reference(head):
        source = ("ref", head)
    else:
        raise TemplateError(f"{where}: unsupported expression {{{{ {body} }}}}")
    filters = []
    for stage in stages[1:]:
        if stage == "quote":
            filters.append(("quote", None))
        elif m := re.fullmatch(r"nindent\s+(\d+)", stage):
            filters.append(("nindent", int(m.group(1))))
        else:
            raise TemplateError(f"{where}: unsupported function {stage!r} in {{{{ {body} }}}}")
    return source, filters


# ---------------------------------------------------------------------------------------------
# Evaluation.

MISSING = object()


def lookup(ref, scope, where):
    """The value of a reference; MISSING when only its last step is absent."""
    if ref == ".":
        if scope["dot"] is MISSING:
            raise TemplateError(f"{where}: `.` outside range (use .Values…)")
        return scope["dot"]
    if scope["dot"] is not MISSING:
        raise TemplateError(f"{where}: {ref} inside range, where `.` is the element (not supported)")
    parts = ref[1:].split(".")
    value = scope["root"]
    for index, part in enumerate(parts):
        if not isinstance(value, dict):
            raise TemplateError(f"{where}: {'.'.join(parts[:index])} is not a mapping, reading {ref}")
        if part not in value:
            if index == len(parts) - 1:
                return MISSING
            raise TemplateError(f"{where}: {ref}: {'.'.join(parts[:index + 1])} is not set")
        value = value[part]
    return value


def truthy(value):
    """Go template truth: false, 0, nil and empty strings, lists and maps are false."""
    if value is MISSING or value is None:
        return False
    if isinstance(value, (bool, int, float, str, list, dict)):
        return bool(value)
    return True


def go_string(value, where, what):
    if value is MISSING or value is None:
        raise TemplateError(f"{where}: {what} is not set")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    raise TemplateError(f"{where}: {what} is a list or mapping; print it with toYaml")


def to_yaml(value):
    """Helm's toYaml: block style, sorted keys, no trailing newline."""
    if value is MISSING or value is None:
        return "null"
    return yaml.safe_dump(value, default_flow_style=False, sort_keys=True, allow_unicode=True).rstrip("\n")


def nindent(text, width):
    pad = " " * width
    return "\n" + pad + text.replace("\n", "\n" + pad)


def render_nodes(nodes, scope, defines, where_name, depth=0):
    out = []
    for node in nodes:
        kind = node[0]
        if kind == "text":
            out.append(node[1])
        elif kind == "if":
            _, negate, ref, body, line = node
            value = truthy(lookup(ref, scope, f"{where_name}:{line}"))
            if value != negate:
                out.append(render_nodes(body, scope, defines, where_name, depth))
        elif kind == "range":
            _, ref, body, line = node
            where = f"{where_name}:{line}"
            items = lookup(ref, scope, where)
            if items is MISSING or items is None:
                items = []
            if not isinstance(items, list):
                raise TemplateError(f"{where}: range over {ref}, which is not a list")
            for item in items:
                out.append(render_nodes(body, dict(scope, dot=item), defines, where_name, depth))
        else:
            _, (source, filters), line = node
            where = f"{where_name}:{line}"
            if source[0] == "include":
                if source[1] not in defines:
                    raise TemplateError(f"{where}: include of undefined template {source[1]!r}")
                if depth > 20:
                    raise TemplateError(f"{where}: include nested too deeply")
                text = render_nodes(defines[source[1]], scope, defines, f"define {source[1]!r}", depth + 1)
            elif source[0] == "toYaml":
                text = to_yaml(lookup(source[1], scope, where))
            else:
                text = go_string(lookup(source[1], scope, where), where, source[1])
            for name, argument in filters:
                if name == "quote":
                    text = json.dumps(text, ensure_ascii=False)
                else:
                    text = nindent(text, argument)
            out.append(text)
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# Values: values.yaml, then -f files, then --set, merged like Helm.

def merge(base, override):
    result = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge(result[key], value)
        else:
            result[key] = value
    return result


def parse_set_value(text):
    if text.startswith("{") and text.endswith("}"):  # Helm's list syntax: key={a,b}
        inner = text[1:-1]
        return [parse_set_value(item) for item in inner.split(",")] if inner else []
    if text in ("true", "false"):
        return text == "true"
    if text == "null":
        return None
    if re.fullmatch(r"-?(0|[1-9][0-9]*)", text):
        return int(text)
    return text


def apply_set(values, assignment):
    pairs, depth, current = [], 0, ""
    for char in assignment:  # commas separate pairs, except inside {…} or after \\
        if char == "," and depth == 0 and not current.endswith("\\"):
            pairs.append(current)
            current = ""
            continue
        depth += {"{": 1, "}": -1}.get(char, 0)
        current += char
    pairs.append(current)
    for pair in pairs:
        pair = pair.replace("\\,", ",")
        if "=" not in pair:
            raise TemplateError(f"--set {pair!r}: expected key=value")
        key, value = pair.split("=", 1)
        parts = key.split(".")
        if not all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", part) for part in parts):
            raise TemplateError(f"--set {key!r}: only dotted keys are supported (no list indexes)")
        target = values
        for part in parts[:-1]:
            if not isinstance(target.get(part), dict):
                target[part] = {}
            target = target[part]
        target[parts[-1]] = parse_set_value(value)
    return values


def load_yaml_mapping(path):
    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    if not isinstance(data, dict):
        raise TemplateError(f"{path}: not a YAML mapping")
    return data


# ---------------------------------------------------------------------------------------------

def render_chart(chart_dir, release, namespace, value_files, sets):
    chart = load_yaml_mapping(os.path.join(chart_dir, "Chart.yaml"))
    for key in ("apiVersion", "name", "version"):
        if key not in chart:
            raise TemplateError(f"Chart.yaml: {key} is missing")
    values = load_yaml_mapping(os.path.join(chart_dir, "values.yaml"))
    for path in value_files:
        values = merge(values, load_yaml_mapping(path))
    for assignment in sets:
        values = apply_set(values, assignment)
    scope = {
        "root": {
            "Values": values,
            "Release": {"Name": release, "Namespace": namespace, "Service": "Helm"},
            "Chart": {"Name": chart["name"], "Version": chart["version"], "AppVersion": chart.get("appVersion", "")},
        },
        "dot": MISSING,
    }
    templates_dir = os.path.join(chart_dir, "templates")
    names = sorted(os.listdir(templates_dir))
    defines, trees = {}, {}
    for name in names:
        path = os.path.join(templates_dir, name)
        if not os.path.isfile(path):
            raise TemplateError(f"templates/{name}: subdirectories are not supported")
        with open(path, encoding="utf-8") as handle:
            source = handle.read()
        file_defines = {}
        tree = parse(lex(source, f"templates/{name}"), f"templates/{name}", file_defines)
        for define in file_defines:
            if define in defines:
                raise TemplateError(f"templates/{name}: template {define!r} is defined twice")
        defines.update(file_defines)
        trees[name] = tree
    documents, notes = [], ""
    for name in names:
        tree = trees[name]
        text = render_nodes(tree, scope, defines, f"templates/{name}")
        if name == "NOTES.txt":
            notes = text
            continue
        if name.startswith("_"):
            if text.strip():
                raise TemplateError(f"templates/{name}: a partial renders text outside its defines")
            continue
        if not (name.endswith(".yaml") or name.endswith(".yml")):
            raise TemplateError(f"templates/{name}: not a .yaml template, _partial or NOTES.txt")
        for document in re.split(r"(?m)^---[ \t]*$", text):
            if not document.strip() or all(not line.strip() or line.lstrip().startswith("#") for line in document.splitlines()):
                continue
            source = f"{chart['name']}/templates/{name}"
            try:
                parsed = yaml.safe_load(document)
            except yaml.YAMLError as error:
                raise TemplateError(f"{source}: rendered document is not YAML: {error}\n{document}")
            if not isinstance(parsed, dict):
                raise TemplateError(f"{source}: rendered document is not a mapping:\n{document}")
            documents.append((source, document.strip("\n")))
    return documents, notes


def main(argv):
    import argparse
    parser = argparse.ArgumentParser(description="Render a chart written in a small Go-template subset.")
    parser.add_argument("chart")
    parser.add_argument("--name", default="bcs", help="release name (default: bcs)")
    parser.add_argument("--namespace", "-n", default="default", help="release namespace (default: default)")
    parser.add_argument("--values", "-f", action="append", default=[], help="extra values file")
    parser.add_argument("--set", action="append", default=[], help="key=value[,key=value...]")
    parser.add_argument("--notes", action="store_true", help="print NOTES.txt after the manifests")
    args = parser.parse_args(argv)
    try:
        documents, notes = render_chart(args.chart, args.name, args.namespace, args.values, args.set)
    except (TemplateError, OSError, yaml.YAMLError) as error:
        print(f"render.py: {error}", file=sys.stderr)
        return 1
    for source, document in documents:
        print(f"---\n# Source: {source}\n{document}")
    if args.notes:
        print("\nNOTES:\n" + notes.strip("\n"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
