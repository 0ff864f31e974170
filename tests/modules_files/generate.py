#!/usr/bin/env python3
"""Records what real Ansible does for each case in cases.json (run with the venv's python:
/var/tmp/ansible-venv/bin/python tests/modules_files/generate.py).

For every case, in its own temp dir, it runs the task three times with ansible-playbook --diff:
--check first (on the untouched setup), then for real, then again for real. It records each
run's status, changed, msg, a few result fields, the diffs as the default callback would print
them (dicts serialized with json.dumps(sort_keys=True, indent=4) + newline), and the final tree
(type, mode, owner, group, content, link target). The temp dir is written as @D@; diff headers
outside it (template's controller temp path) as @SRC@/<basename>; atime/mtime keys are dropped
from dict diffs (timestamps). Output: expected.json.
"""
import base64, json, os, pwd, grp, re, shutil, stat, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
VENV = os.environ.get("ANSIBLE_VENV", "/var/tmp/ansible-venv")
FIELDS = ["checksum", "md5sum", "mode", "owner", "group", "uid", "gid", "size", "state",
          "dest", "path", "found", "content", "encoding", "source", "exit_status", "stderr", "stdout"]

CALLBACK = '''
import json, os
from ansible.plugins.callback import CallbackBase
class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'record'
    CALLBACK_NEEDS_ENABLED = True
    def _w(self, result, status):
        r = dict(result._result)
        r.pop('invocation', None)
        with open(os.environ['RECORD_OUT'], 'a') as f:
            f.write(json.dumps({'task': result._task.get_name(), 'status': status, 'result': r}, default=str) + '\\n')
    def v2_runner_on_ok(self, result): self._w(result, 'ok')
    def v2_runner_on_failed(self, result, ignore_errors=False): self._w(result, 'failed')
'''


def subst(v, d):
    if isinstance(v, str):
        return v.replace("@D@", d)
    if isinstance(v, dict):
        return {k: subst(x, d) for k, x in v.items()}
    if isinstance(v, list):
        return [subst(x, d) for x in v]
    return v


def norm(v, d):
    if isinstance(v, str):
        return v.replace(d, "@D@")
    if isinstance(v, dict):
        return {k: norm(x, d) for k, x in v.items()}
    if isinstance(v, list):
        return [norm(x, d) for x in v]
    return v


def setup(case, d):
    os.makedirs(d)
    for f in case.get("setup", []):
        p = os.path.join(d, f["path"])
        os.makedirs(os.path.dirname(p), exist_ok=True)
        if "link" in f:
            os.symlink(f["link"], p)
            continue
        with open(p, "w") as fh:
            fh.write(f["content"])
        os.chmod(p, int(f["mode"], 8))


def serialize_diff(x):
    if isinstance(x, str):
        return x
    x = {k: v for k, v in x.items() if k not in ("atime", "mtime")}
    return json.dumps(x, sort_keys=True, indent=4, separators=(",", ": ")) + "\n"


def diffs(r, d):
    raw = r.get("diff", [])
    if isinstance(raw, dict):
        raw = [raw]
    out = []
    for e in raw:
        if "before" not in e or "after" not in e:
            continue
        before, after = serialize_diff(e["before"]), serialize_diff(e["after"])
        if before == after:
            continue
        hs = []
        for h in (e.get("before_header", ""), e.get("after_header", "")):
            if h and d not in h:
                h = "@SRC@/" + os.path.basename(h)
            hs.append(norm(h, d))
        out.append({"before_header": hs[0], "after_header": hs[1],
                    "before": norm(before, d), "after": norm(after, d)})
    return out


def tree(d):
    out = {}
    for root, dirs, files in os.walk(d):
        dirs.sort()
        for name in sorted(dirs + files):
            p = os.path.join(root, name)
            rel = os.path.relpath(p, d)
            rel = re.sub(r"\.\d+\.\d{4}-\d\d-\d\d@\d\d:\d\d:\d\d~$", ".BACKUP~", rel)
            st = os.lstat(p)
            e = {"mode": "%04o" % stat.S_IMODE(st.st_mode),
                 "owner": pwd.getpwuid(st.st_uid).pw_name,
                 "group": grp.getgrgid(st.st_gid).gr_name}
            if stat.S_ISLNK(st.st_mode):
                e["type"] = "link"
                e["target"] = os.readlink(p)
                del e["mode"]
            elif stat.S_ISDIR(st.st_mode):
                e["type"] = "directory"
            else:
                e["type"] = "file"
                e["nlink"] = st.st_nlink
                e["content"] = base64.b64encode(open(p, "rb").read()).decode()
            out[rel] = e
    return out


def run_phase(cases, base, ctl, phase):
    play = [{"hosts": "localhost", "gather_facts": False, "vars": {"x": "world"}, "tasks": [
        {"name": c["name"], c["module"]: subst(c["args"], os.path.join(base, c["name"])),
         "ignore_errors": True} for c in cases]}]
    pb = os.path.join(ctl, "play.yml")
    with open(pb, "w") as f:
        json.dump(play, f, indent=1)
    rec = os.path.join(base, "rec-%s.jsonl" % phase)
    env = dict(os.environ, RECORD_OUT=rec, ANSIBLE_CALLBACK_PLUGINS=os.path.join(base, "cb"),
               ANSIBLE_CALLBACKS_ENABLED="record", ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="false")
    cmd = [os.path.join(VENV, "bin", "ansible-playbook"), "-i", "localhost,", "-c", "local",
           "-e", "ansible_python_interpreter=" + os.path.join(VENV, "bin", "python"), "--diff", pb]
    if phase == "check":
        cmd.append("--check")
    subprocess.run(cmd, env=env, check=False, stdout=subprocess.DEVNULL)
    out = {}
    for line in open(rec):
        e = json.loads(line)
        out[e["task"]] = e
    return out


def summarize(e, d):
    r = e["result"]
    s = {"status": e["status"], "changed": bool(r.get("changed")), "msg": norm(r.get("msg"), d),
         "diffs": diffs(r, d),
         "fields": {k: norm(r[k], d) for k in FIELDS if k in r}}
    if "stat" in r:
        s["stat"] = norm(r["stat"], d)
    if "backup_file" in r or r.get("backup"):
        s["backup"] = True
    return s


def main():
    cases = json.load(open(os.path.join(HERE, "cases.json")))
    base = tempfile.mkdtemp(prefix="rig-modfiles-")
    os.makedirs(os.path.join(base, "cb"))
    with open(os.path.join(base, "cb", "record.py"), "w") as f:
        f.write(CALLBACK)
    ctl = os.path.join(base, "ctl")
    shutil.copytree(os.path.join(HERE, "controller"), ctl)
    for c in cases:
        setup(c, os.path.join(base, c["name"]))
    check = run_phase(cases, base, ctl, "check")
    first = run_phase(cases, base, ctl, "first")
    trees = {c["name"]: tree(os.path.join(base, c["name"])) for c in cases}
    second = run_phase(cases, base, ctl, "second")
    expected = {}
    for c in cases:
        d = os.path.join(base, c["name"])
        expected[c["name"]] = {
            "check": summarize(check[c["name"]], d),
            "first": summarize(first[c["name"]], d),
            "second": summarize(second[c["name"]], d),
            "tree": trees[c["name"]],
        }
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")
    shutil.rmtree(base)


if __name__ == "__main__":
    main()
