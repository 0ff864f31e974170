#!/usr/bin/env python3
"""Regenerates expected.json from corpus.txt with Ansible's own YAML loader.

Run with the Python that has ansible-core 2.19 installed:
    /var/tmp/ansible-venv/bin/python tests/yaml/generate.py

corpus.txt holds cases separated by lines `#### NAME`; a case named `scalars` holds one
plain scalar per line, each loaded as the value of `v: <line>`.
Every value is written as typed JSON: ["int", 1], ["float", "1.0"] (Python repr),
["str", "x"], ["bool", true], ["null"], ["date", "str()"], ["vault", "ciphertext"],
["seq", [...]], ["map", [[key, value], ...]]; a load is ["docs", [doc...], [warning...]],
a load failure is ["error"].
"""
import datetime
import json
import os
import sys

from ansible.parsing.yaml.loader import AnsibleLoader
from ansible._internal._yaml import _constructor

WARNINGS = []


def _record_warning(msg, *args, **kwargs):
    WARNINGS.append(msg)


_constructor.display.warning = _record_warning

HERE = os.path.dirname(os.path.abspath(__file__))


def typed(v):
    if v is None:
        return ["null"]
    if isinstance(v, bool):
        return ["bool", v]
    if isinstance(v, int):
        return ["int", int(v)]
    if isinstance(v, float):
        return ["float", repr(float(v))]
    if type(v).__name__ == "EncryptedString":
        return ["vault", v._ciphertext]
    if isinstance(v, (datetime.date, datetime.datetime)):
        return ["date", str(v)]
    if isinstance(v, str):
        return ["str", str(v)]
    if isinstance(v, dict):
        return ["map", [[typed(k), typed(x)] for k, x in v.items()]]
    if isinstance(v, (list, tuple)):
        return ["seq", [typed(x) for x in v]]
    raise TypeError(type(v))


def load_all(text):
    WARNINGS.clear()
    loader = AnsibleLoader(text)
    try:
        docs = []
        while loader.check_data():
            docs.append(loader.get_data())
        return ["docs", [typed(d) for d in docs], list(WARNINGS)]
    except Exception:
        return ["error"]
    finally:
        loader.dispose()


def main():
    with open(os.path.join(HERE, "corpus.txt"), encoding="utf-8") as f:
        text = f.read()
    cases = []
    name, body = None, []
    for line in text.split("\n"):
        if line.startswith("#### "):
            if name is not None:
                cases.append((name, "\n".join(body)))
            name, body = line[5:].strip(), []
        else:
            body.append(line)
    if name is not None:
        cases.append((name, "\n".join(body)))
    out = []
    for name, body in cases:
        if name == "scalars":
            for line in body.split("\n"):
                if line == "":
                    continue
                doc = "v: " + line + "\n"
                out.append({"name": "scalar " + line, "yaml": doc, "expected": load_all(doc)})
        else:
            out.append({"name": name, "yaml": body, "expected": load_all(body)})
    with open(os.path.join(HERE, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    sys.exit(main())
