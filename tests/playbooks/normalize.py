#!/usr/bin/env python3
"""Normalizer of the playbook conformance suite (see README.md for the rules).

  normalize.py events --out DIR --case DIR   < stdout  > events
  normalize.py events --per-host --out DIR --case DIR   (strategy: free; see per_host)
  normalize.py stdout --out DIR --case DIR   < stdout  > stdout
  normalize.py files DIR DEST                 (writes DEST/files.txt and DEST/files/)

Only the Python standard library is used, so rig's CI can run it without Ansible.
"""

import hashlib
import json
import os
import re
import shutil
import stat
import sys

HEADER = re.compile(r"^(PLAY|TASK|RUNNING HANDLER) \[(.*)\] ?\**$")
PLAY_RECAP = re.compile(r"^PLAY RECAP \**$")
NO_MORE = re.compile(r"^NO MORE HOSTS LEFT \**$")
RESULT = re.compile(r"^(ok|changed|skipping|fatal|failed|unreachable|rescued): \[")
RECAP = re.compile(
    r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+"
    r"skipped=(\d+)\s+rescued=(\d+)\s+ignored=(\d+)\s*$"
)
# the controller-side temp copy of a template source shows in the "+++ after:" diff header
ANSIBLE_TMP = re.compile(r"\S*/\.ansible/tmp/ansible-local-[^/\s]+/[^/\s]+/")
# the file module's diff shows atime/mtime (floats) for state=touch
TIMES = re.compile(r'^([-+ ]\s*"(?:atime|mtime)": )[0-9.]+(,?)$')
SMALL = 4096  # files up to this size are copied next to the manifest


def substitute(line, out, case):
    """Replace the per-run scratch dir and the case dir by stable placeholders."""
    if out:
        line = line.replace(os.path.realpath(out), "<OUT>").replace(out, "<OUT>")
    if case:
        line = line.replace(os.path.realpath(case), "<CASE>").replace(case, "<CASE>")
    line = ANSIBLE_TMP.sub("<TMP>/", line)
    return TIMES.sub(r"\1<TIME>\2", line)


def render_body(body):
    """Render a multi-line JSON result body (debug and other verbose-always results)."""
    try:
        data = json.loads(body)
    except ValueError:
        return " => " + " ".join(body.split())
    if not isinstance(data, dict):
        return " => " + json.dumps(data, sort_keys=True, ensure_ascii=False)
    parts = []
    for key, value in data.items():
        if key.startswith("_ansible"):
            continue
        parts.append("%s=%s" % (key, json.dumps(value, sort_keys=True, ensure_ascii=False)))
    return " => " + " ".join(parts) if parts else ""


def events(lines):
    out = []
    i = 0
    n = len(lines)
    while i < n:
        line = lines[i].rstrip()
        i += 1
        m = HEADER.match(line)
        if m:
            out.append("%s [%s]" % (m.group(1), m.group(2)))
            continue
        if PLAY_RECAP.match(line):
            out.append("PLAY RECAP")
            continue
        if NO_MORE.match(line):
            out.append("NO MORE HOSTS LEFT")
            continue
        m = RECAP.match(line)
        if m:
            out.append(
                "%s : ok=%s changed=%s unreachable=%s failed=%s skipped=%s rescued=%s ignored=%s"
                % m.groups()
            )
            continue
        if line.startswith("--- before"):
            # a diff block: runs until the first empty line
            block = [line]
            while i < n and lines[i].rstrip("\n") != "":
                block.append(lines[i].rstrip("\n"))
                i += 1
            out.append("\n".join(block))
            continue
        if line.startswith(("...ignoring", "included: ", "FAILED - RETRYING: ")):
            out.append(line)
            continue
        if line.startswith("skipping: no hosts matched"):
            out.append(line)
            continue
        if RESULT.match(line):
            if line.endswith(" => {"):
                # multi-line body (indent=4): only results the default callback shows
                # without -v (debug, ...) have one; keep it
                head = line[: -len(" => {")]
                body = ["{"]
                while i < n:
                    b = lines[i].rstrip("\n")
                    i += 1
                    body.append(b)
                    if b == "}":
                        break
                out.append(head + render_body("\n".join(body)))
                continue
            # one-line body (failures, -v): drop it, keep the head
            pos = line.find(" => {")
            if pos >= 0:
                line = line[:pos]
            out.append(line.rstrip())
            continue
        # everything else is noise: [WARNING]/[ERROR] blocks, "Pausing for ..", blank lines
    return out


RESULT_HOST = re.compile(r"^(?:\w+: |FAILED - RETRYING: )\[([^\]\s]+)")
INCLUDED = re.compile(r"^included: (.*) for (.*?)( => \(item=.*\))?$")


def per_host(evs):
    """Regroup the events of each play by host, for the free strategy.

    Under `strategy: free` hosts do not wait for each other, so how Ansible interleaves their
    results (and repeats task banners) depends on timing. What is deterministic: the play
    banners, the sequence of results of each host, and the recap. Within each play, every
    result becomes `HOST | TASK [name] | result line`, grouped by host (hosts sorted, each
    host's results in their order); an `included: F for h1, h2` line becomes one line per host;
    a diff block goes with the host result after it and `...ignoring` with the one before it.
    Lines naming no host (`NO MORE HOSTS LEFT`, `skipping: no hosts matched`) follow the
    hosts' lines, in order.
    """
    out, groups, other = [], {}, []
    task, last_host, pending = "", None, []

    def flush():
        for h in sorted(groups):
            out.extend(groups[h])
        out.extend(other)
        groups.clear()
        del other[:]

    for e in evs:
        m = HEADER.match(e)
        if m and m.group(1) != "PLAY":
            task = e
            continue
        if m or e == "PLAY RECAP" or RECAP.match(e):
            flush()
            out.append(e)
            continue
        if e.startswith("--- before"):
            pending.append(e)
            continue
        if e.startswith("...ignoring") and last_host is not None:
            groups[last_host].append("%s | %s | %s" % (last_host, task, e))
            continue
        m = INCLUDED.match(e)
        if m:
            for h in m.group(2).split(", "):
                line = "included: %s for %s%s" % (m.group(1), h, m.group(3) or "")
                groups.setdefault(h, []).append("%s | %s | %s" % (h, task, line))
            continue
        m = RESULT_HOST.match(e)
        if m:
            h = m.group(1)
            g = groups.setdefault(h, [])
            g.extend("%s | %s | %s" % (h, task, d) for d in pending)
            del pending[:]
            g.append("%s | %s | %s" % (h, task, e))
            last_host = h
            continue
        other.append(e)
    flush()
    return out


HOSTS_HEADER = re.compile(r"^\s+hosts \((\d+)\):$")


def stdout_mode(lines):
    res = [l.rstrip() for l in lines]
    # --list-hosts prints each play's hosts in an order that changes from run to run
    # (set iteration under Python's hash randomization): sort each "hosts (N):" block
    for i, line in enumerate(res):
        m = HOSTS_HEADER.match(line)
        if m:
            n = int(m.group(1))
            res[i + 1 : i + 1 + n] = sorted(res[i + 1 : i + 1 + n])
    while res and res[0] == "":
        res.pop(0)
    while res and res[-1] == "":
        res.pop()
    return res


def files(src, dest):
    manifest = []
    copies = os.path.join(dest, "files")
    if os.path.isdir(copies):
        shutil.rmtree(copies)
    for root, dirs, names in os.walk(src):
        dirs.sort()
        for name in sorted(dirs + names):
            full = os.path.join(root, name)
            rel = os.path.relpath(full, src)
            st = os.lstat(full)
            mode = "%04o" % stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                manifest.append("%s -> %s" % (rel, os.readlink(full)))
            elif stat.S_ISDIR(st.st_mode):
                manifest.append("%s/ %s -" % (rel, mode))
            elif stat.S_ISREG(st.st_mode):
                with open(full, "rb") as f:
                    data = f.read()
                manifest.append("%s %s %s" % (rel, mode, hashlib.sha1(data).hexdigest()))
                if len(data) <= SMALL:
                    target = os.path.join(copies, rel)
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    with open(target, "wb") as f:
                        f.write(data)
            else:
                manifest.append("%s %s special" % (rel, mode))
    manifest.sort()
    with open(os.path.join(dest, "files.txt"), "w") as f:
        for m in manifest:
            f.write(m + "\n")


def main(argv):
    if len(argv) >= 2 and argv[1] == "files":
        files(argv[2], argv[3])
        return 0
    mode = argv[1]
    out = case = None
    by_host = False
    rest = argv[2:]
    while rest:
        if rest[0] == "--per-host":
            by_host = True
            rest = rest[1:]
            continue
        if rest[0] == "--out":
            out = rest[1]
        elif rest[0] == "--case":
            case = rest[1]
        rest = rest[2:]
    text = sys.stdin.buffer.read().decode("utf-8", "replace")
    lines = [substitute(l, out, case) for l in text.split("\n")]
    if mode == "events":
        res = events(lines)
        if by_host:
            res = per_host(res)
    elif mode == "stdout":
        res = stdout_mode(lines)
    else:
        sys.stderr.write("unknown mode %s\n" % mode)
        return 2
    sys.stdout.write("".join(l + "\n" for l in res))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
