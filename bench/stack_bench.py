"""Driver of bench/stack-bench.sh (run that, not this: it builds rig, takes the lab lock, builds
the stand-ins and tears the lab down). rig against ansible-playbook (default configuration, and
tuned: pipelining on, forks = number of hosts) on the tracing-stack site.yml, each tool on its
own fresh lab hosts, at several host counts. Prints a markdown table, writes JSON to argv[1]
(rewritten after every measurement, so an interrupted run keeps what it measured).

Cases, per host count N and tool (tests/stack: the staging layout, every role on every host):
  first    site.yml on fresh hosts (apt lists updated and python3-packaging installed beforehand,
           untimed, on every tool's hosts alike; Ansible's pip module needs python3-packaging);
  noop     site.yml again (every host must report changed=0);
  diff     site.yml -e otel_sampling_percentage=25 --diff (the collector config changes, the
           collector restarts);
  noop100  a synthetic play of 100 no-op tasks (file state=directory, template, copy, command
           with creates:; bench/lab_bench.py noop_play), converged once by rig on every tool's
           hosts (untimed), then timed (every host must report changed=0).

Environment:
  PLAN  "quick" (QUICK_PLAN below), or what runs, in this order: space-separated N:tool:case,case,... entries (tools: rig,
        ansible-default, ansible-tuned). Entries with the same N share one lab boot; each tool
        gets N hosts of its own. A tool whose entry has noop or diff but not first gets its hosts
        converged by rig (untimed; recorded as converged_by=rig).
        A case may carry its own time limit: noop@300.
  ANSIBLE_TIMEOUT  seconds after which an Ansible run is stopped (its time is then a lower bound,
        shown as ">", and the ratio as "≥"); default 1800.
  RIG, LAB, ANSIBLE_VENV, LAB_DIR, LAB_NET, LAB_REPO_PORT (as the lab scripts).
"""

import concurrent.futures
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import lab_bench as lb

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RIG = os.environ.get("RIG", "")
LAB = os.environ.get("LAB", "")
VENV = os.environ.get("ANSIBLE_VENV", "/var/tmp/ansible-venv")
STATE = os.path.join(os.environ.get("LAB_DIR", "/var/tmp/lab"), "state")
LAB_GW = os.environ.get("LAB_NET", "10.231.0") + ".1"
REPO_URL = f"http://{LAB_GW}:{os.environ.get('LAB_REPO_PORT', '8080')}"
# SHARE_HOSTS=1: every tool on the same N hosts (the first tool's first run converges them; the
# others' runs then follow in the plan's case order). Saves booting and converging N hosts per
# tool when time is short; not "each tool on its own fresh hosts", so only for reruns.
SHARE_HOSTS = os.environ.get("SHARE_HOSTS") == "1"
ANSIBLE_TIMEOUT = float(os.environ.get("ANSIBLE_TIMEOUT", "1800"))
TOOLS = ("rig", "ansible-default", "ansible-tuned")
CASES = ("first", "noop", "diff", "noop100")
DEFAULT_PLAN = " ".join(f"{n}:{t}:{','.join(CASES)}" for n in (1, 10, 50) for t in TOOLS)
# The README's table: what fits in about 45 minutes on the quiet 2-core machine.
QUICK_PLAN = ("10:rig:first,noop,diff,noop100 10:ansible-tuned:first,noop,diff,noop100 "
              "10:ansible-default:first@600,noop@400,diff@400,noop100@600 "
              "50:rig:first,noop,diff,noop100 50:ansible-tuned:noop@900 "
              "1:rig:first,noop,diff,noop100 1:ansible-tuned:first,noop,diff,noop100 "
              "1:ansible-default:first,noop,diff,noop100")
log = lb.log


def parse_plan(text):
    """[(n, {tool: [cases]})] in first-seen order of n."""
    plan = {}
    for entry in text.split():
        n, tool, cases = entry.split(":")
        assert tool in TOOLS, f"unknown tool {tool}"
        cs = {}
        for c in cases.split(","):
            if c:
                name, _, secs = c.partition("@")
                assert name in CASES, f"unknown case in {entry}"
                cs[name] = float(secs) if secs else None
        plan.setdefault(int(n), {})[tool] = cs
    return list(plan.items())


def recap(text):
    """{host: (ok, changed, unreachable, failed, skipped)} from the PLAY RECAP."""
    rows = re.findall(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)"
                      r"\s+skipped=(\d+)", text, re.M)
    return {h: tuple(int(x) for x in r) for h, *r in rows}


def stack_inventory(work, tool, hosts):
    """tests/stack's staging layout on `hosts` (every role on every host) plus the lab's
    connection settings for them."""
    d = f"{work}/inv-{tool}-{len(hosts)}"
    os.makedirs(f"{d}/group_vars", exist_ok=True)
    shutil.copy(f"{ROOT}/tests/stack/inventories/lab-staging/group_vars/all.yml",
                f"{d}/group_vars/all.yml")
    with open(f"{d}/hosts.ini", "w") as f:
        for g in ("tempo", "grafana", "otel_collectors", "apps"):
            f.write(f"[{g}]\n" + "".join(f"{h}\n" for h in hosts) + "\n")
        f.write("[staging:children]\ntempo\ngrafana\notel_collectors\napps\n")
    keep = set(hosts)
    lines = [l for l in open(f"{STATE}/inventory.ini").read().splitlines()
             if not re.match(r"h\d+ ", l) or l.split()[0] in keep]
    conn = f"{work}/conn-{tool}-{len(hosts)}.ini"
    with open(conn, "w") as f:
        f.write("\n".join(lines) + "\n")
    return [d, conn]


def command(tool, invs, playbook, nhosts, extra, cwd_cfg):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env["ANSIBLE_NOCOLOR"] = "1"
    env["NO_COLOR"] = "1"
    if cwd_cfg:
        env["ANSIBLE_CONFIG"] = cwd_cfg  # an empty ansible.cfg: defaults
    inv_args = [a for i in invs for a in ("-i", i)]
    if tool == "rig":
        env["RIG_STATS"] = "1"
        return [RIG, "playbook"] + inv_args + extra + [playbook], env
    if tool == "ansible-tuned":
        env["ANSIBLE_PIPELINING"] = "True"
        env["ANSIBLE_FORKS"] = str(nhosts)
    return [f"{VENV}/bin/ansible-playbook"] + inv_args + extra + [playbook], env


def on_hosts(hosts, script, workers=10):
    """Runs script on every host over ssh (the lab's ssh_config); returns the failures."""
    def one(h):
        r = subprocess.run(["ssh", "-F", f"{STATE}/ssh_config", h, script],
                           capture_output=True, text=True)
        return h, r.returncode, r.stdout[-500:] + r.stderr[-500:]
    with concurrent.futures.ThreadPoolExecutor(workers) as ex:
        return [(h, rc, out) for h, rc, out in ex.map(one, hosts) if rc != 0]


class Bench:
    def __init__(self, out_json, work):
        self.out_json = out_json
        self.work = work
        self.results = []
        cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                    if l.startswith("model name")), "?")
        self.meta = {
            "cpu": cpu, "cores": os.cpu_count(),
            "mem_gib": round(os.sysconf("SC_PHYS_PAGES") * lb.PAGE / 2**30, 1),
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "ansible": subprocess.run([f"{VENV}/bin/ansible-playbook", "--version"],
                                      capture_output=True, text=True).stdout.splitlines()[0],
            "rig": subprocess.run([RIG, "--version"], capture_output=True,
                                  text=True).stdout.strip(),
            "plan": os.environ.get("PLAN", DEFAULT_PLAN),
            "ansible_timeout_s": ANSIBLE_TIMEOUT,
            "share_hosts": SHARE_HOSTS,
        }

    def save(self):
        self.meta["saved"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with open(self.out_json, "w") as f:
            json.dump({"machine": self.meta, "results": self.results}, f, indent=2)

    def run(self, n, tool, case, invs, playbook, extra, cwd, cfg=None, want_changed0=False,
            ntasks=None, limit=None):
        argv, env = command(tool, invs, playbook, n, extra, cfg)
        out = f"{self.work}/{n}-{tool}-{case}.out"
        timeout = None if tool == "rig" else (limit or ANSIBLE_TIMEOUT)
        m = lb.measure(argv, env, cwd, out, timeout=timeout)
        text = open(out, errors="replace").read()
        rc = recap(text)
        m.update({"hosts": n, "tool": tool, "case": case, "output": out})
        m["recap_hosts"] = len(rc)
        m["changed"] = sum(r[1] for r in rc.values())
        m["tasks_run"] = sum(r[0] + r[3] for r in rc.values())
        m["ok"] = (m["rc"] == 0 and len(rc) == n and not m["timed_out"]
                   and all(r[2] == 0 and r[3] == 0 for r in rc.values())
                   and (not want_changed0 or m["changed"] == 0))
        if tool == "rig":
            rt = re.search(r"rig-stats: round_trips=(\d+)", text)
            if rt:
                m["round_trips"] = int(rt.group(1))
                # per task that ran on a host (ok or failed in the recap; skipped tasks cost
                # nothing, local ones such as set_fact/assert count as tasks with 0 trips)
                denom = (ntasks * n) if ntasks else m["tasks_run"]
                m["round_trips_per_task_host"] = m["round_trips"] / denom if denom else None
            m["setup_phases"] = re.findall(r"^rig-stats: (phase=.*)$", text, re.M)
        log(f"{n} hosts {tool} {case}: {m['wall_s']:.2f}s cpu {m['cpu_s']:.2f}s "
            f"rss {m['maxrss_mb']:.0f}/{m['tree_rss_peak_mb']:.0f} MB changed={m['changed']} "
            f"ok={m['ok']}{' TIMED OUT' if m['timed_out'] else ''} load {m['load_before']:.1f}"
            + (f" round_trips={m.get('round_trips')} per task/host "
               f"{m.get('round_trips_per_task_host') or 0:.2f}" if tool == "rig" else ""))
        if not m["ok"]:
            log(f"  output: {out}\n{text[-1500:]}")
        self.results.append(m)
        self.save()
        return m

    def scale(self, n, tools):
        names = {}
        first = 1
        for t in tools:
            names[t] = [f"h{i}" for i in range(first, first + n)]
            if not SHARE_HOSTS:
                first += n
        total = first - 1 if not SHARE_HOSTS else n
        lb.lab_down()
        log(f"lab: up.sh {total} ({n} hosts for each of {', '.join(tools)})")
        t0 = time.time()
        subprocess.run([f"{LAB}/up.sh", str(total)], check=True, stdout=subprocess.DEVNULL)
        log(f"lab: up in {time.time() - t0:.0f}s; apt-get update + python3-packaging everywhere")
        allh = list(dict.fromkeys(h for t in tools for h in names[t]))
        bad = on_hosts(allh, "apt-get update -qq && DEBIAN_FRONTEND=noninteractive "
                             "apt-get install -y -qq python3-packaging >/dev/null")
        if bad:
            raise SystemExit(f"preparing hosts failed: {bad[:3]}")
        invs = {t: stack_inventory(self.work, t, names[t]) for t in tools}
        ev = ["-e", f"lab_repo_host={LAB_GW}", "-e", f"lab_repo_url={REPO_URL}"]
        alive = {t: True for t in tools}
        for case in ("first", "noop", "diff"):
            for t, cases in tools.items():
                if not alive[t]:
                    continue
                if (case == "noop" and "first" not in cases and ("noop" in cases or "diff" in cases)
                        and not SHARE_HOSTS):
                    # no timed first run for this tool: rig converges its hosts (untimed)
                    m = self.run(n, "rig", f"converge-{t}", invs[t], "site.yml", ev, ROOT)
                    m["for_tool"] = t
                    self.save()
                    if not m["ok"]:
                        alive[t] = False
                        continue
                if case not in cases:
                    continue
                extra = ev + (["-e", "otel_sampling_percentage=25", "--diff"]
                              if case == "diff" else [])
                m = self.run(n, t, case, invs[t], "site.yml", extra, ROOT,
                             want_changed0=(case == "noop"), limit=cases[case])
                if case == "first" and not m["ok"]:
                    if m["timed_out"]:
                        # stopped by its time limit: rig finishes the convergence (untimed)
                        c = self.run(n, "rig", f"converge-{t}", invs[t], "site.yml", ev, ROOT)
                        c["for_tool"] = t
                        self.save()
                        alive[t] = c["ok"]
                    else:
                        alive[t] = False
        want100 = [t for t, cases in tools.items() if "noop100" in cases]
        if want100:
            play = lb.noop_play(self.work, 100)
            cfg = os.path.join(self.work, "ansible.cfg")
            union = list(dict.fromkeys(h for t in want100 for h in names[t]))
            conn = stack_inventory(self.work, "noop100", union)[1]
            ex = ["-e", "d=/srv/bench"]
            m = self.run(len(union), "rig", f"converge100-{n}", [conn], play, ex, self.work, cfg)
            m["for_tools"] = want100
            self.save()
            if m["ok"]:
                for t in want100:
                    self.run(n, t, "noop100", [invs[t][1]], play, ex, self.work, cfg,
                             want_changed0=True, ntasks=100, limit=tools[t]["noop100"])


def cell(m):
    if m is None:
        return "—"
    mark = ">" if m["timed_out"] else ""
    bad = "" if m["ok"] or m["timed_out"] else " (failed)"
    return f"{mark}{m['wall_s']:.1f} s, {m['cpu_s']:.1f} s CPU, {m['tree_rss_peak_mb']:.0f} MB{bad}"


def ratio(a, rig):
    if a is None or rig is None or not rig["ok"] or not (a["ok"] or a["timed_out"]):
        return "—"
    return f"{'≥' if a['timed_out'] else ''}{a['wall_s'] / rig['wall_s']:.1f}x"


def table(results, header=""):
    lines = [header, ""] if header else []
    lines += ["| hosts | case | rig: wall, CPU, peak RSS (tree) | rig round trips / task / host "
              "| Ansible default: wall, CPU, tree RSS | ratio | Ansible tuned: wall, CPU, tree RSS "
              "| ratio | lab hosts' CPU: rig / default / tuned | load |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    names = {"first": "first run", "noop": "no-op rerun", "diff": "one variable changed, --diff",
             "noop100": "100 no-op tasks"}
    seen = []
    for r in results:
        if r["case"] in names and (r["hosts"], r["case"]) not in seen:
            seen.append((r["hosts"], r["case"]))
    for n, case in seen:
        got = {r["tool"]: r for r in results if r["hosts"] == n and r["case"] == case}
        rig = got.get("rig")
        rc = (f"{rig['wall_s']:.2f} s, {rig['cpu_s']:.2f} s CPU, {rig['maxrss_mb']:.0f} MB "
              f"({rig['tree_rss_peak_mb']:.0f} MB){'' if rig['ok'] else ' (failed)'}"
              if rig else "—")
        rt = rig.get("round_trips_per_task_host") if rig else None
        loads = [x for r in got.values() for x in (r["load_before"], r["load_after"])]
        lab = " / ".join(f"{got[t]['lab_cpu_s']:.0f} s" if got.get(t) and got[t].get("lab_cpu_s")
                         is not None else "—" for t in TOOLS)
        lines.append(
            f"| {n} | {names[case]} | {rc} | {f'{rt:.2f}' if rt is not None else '—'} "
            f"| {cell(got.get('ansible-default'))} | {ratio(got.get('ansible-default'), rig)} "
            f"| {cell(got.get('ansible-tuned'))} | {ratio(got.get('ansible-tuned'), rig)} "
            f"| {lab} | {min(loads):.0f}-{max(loads):.0f} |")
    return "\n".join(lines)


def main():
    if sys.argv[1] == "--table":
        # --table A.json B.json ...: one table from several runs (rows in file order)
        print(table([r for path in sys.argv[2:] for r in json.load(open(path))["results"]]))
        return
    work = tempfile.mkdtemp(prefix="stack-bench.")
    b = Bench(sys.argv[1], work)
    text = os.environ.get("PLAN", DEFAULT_PLAN)
    plan = parse_plan(QUICK_PLAN if text == "quick" else text)
    try:
        for n, tools in plan:
            b.scale(n, tools)
    finally:
        b.meta["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        b.save()
        lb.lab_down()
    m = b.meta
    print(table(b.results, f"Machine: {m['cpu']}, {m['cores']} cores, {m['mem_gib']} GiB; "
                           f"{m['ansible']}; {m['rig']}; {m['started']}"))


if __name__ == "__main__":
    main()
