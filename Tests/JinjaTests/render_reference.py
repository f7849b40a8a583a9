"""Renders chat templates as transformers does (its jinja2 environment, rebuilt here from
transformers' chat_template_utils: an immutable sandbox with trim_blocks, lstrip_blocks and loop
controls, raise_exception, strftime_now and a tojson that keeps non-ASCII text).

    python render_reference.py CASES.json   ->   one JSON result per case on stdout

CASES.json is a list of {"template": PATH, "context": {...}}; each result is {"text": ...} or
{"error": "raised: MESSAGE" | "failed: TYPE"}.
"""
import json
import sys
from datetime import datetime

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(format):
    return datetime.now().strftime(format)


environment = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
environment.filters["tojson"] = tojson
environment.globals["raise_exception"] = raise_exception
environment.globals["strftime_now"] = strftime_now

compiled = {}
results = []
for case in json.load(open(sys.argv[1], encoding="utf-8")):
    try:
        if case["template"] not in compiled:
            compiled[case["template"]] = environment.from_string(open(case["template"], encoding="utf-8").read())
        results.append({"text": compiled[case["template"]].render(**case["context"])})
    except jinja2.exceptions.TemplateError as error:
        kind = type(error).__name__
        results.append({"error": f"raised: {error.message}" if kind == "TemplateError" else f"failed: {kind}"})
    except Exception as error:
        results.append({"error": f"failed: {type(error).__name__}"})
json.dump(results, sys.stdout, ensure_ascii=False)
