"""Driver of bench/lab-bench.sh (run that, not this: it builds rig, takes the lab lock and tears
the lab down). Boots lab hosts, converges each tool once, times the no-op reruns, prints a
markdown table and writes JSON to argv[1].

Environment: RIG (release binary), LAB (tests/lab), ANSIBLE_VENV, REPS (timed reruns per tool
and case, default 3), REPS100 (Ansible's reruns at 100 tasks, default REPS), REPS50 (tuned
Ansible's reruns at 50 hosts, default 1; 0 skips it), CASES (default "noop20 noop100 scale50").
`python3 bench/lab_bench.py --table A.json B.json` prints one table from several results.
"""

import ctypes
import json
import os
import platform
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

RIG = os.environ.get("RIG", "")
LAB = os.environ.get("LAB", "")
VENV = os.environ.get("ANSIBLE_VENV", "/var/tmp/ansible-venv")
REPS = int(os.environ.get("REPS", "3"))
CASES = os.environ.get("CASES", "noop20 noop100 scale50").split()
# Ansible's reruns at 100 tasks (several minutes each on a loaded 2-core machine) and at 50 hosts.
REPS100 = int(os.environ.get("REPS100", str(REPS)))
REPS50 = int(os.environ.get("REPS50", "1"))
STATE = os.path.join(os.environ.get("LAB_DIR", "/var/tmp/lab"), "state")
PAGE = os.sysconf("SC_PAGE_SIZE")

# Orphans of the runs (ssh masters started with -f, ControlPersist) are re-parented to this
# process, so their CPU is counted and they can be stopped by PID after each run.
PR_SET_CHILD_SUBREAPER = 36
ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def proc_table():
    """{pid: (ppid, rss bytes)} of every process."""
    t = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
            fields = s[s.rindex(")") + 2 :].split()
            t[int(d)] = (int(fields[1]), int(fields[21]) * PAGE)
        except (OSError, ValueError, IndexError):
            pass
    return t


def descendants(table, root, skip=frozenset()):
    """Processes under root, not entering the subtrees of the pids in skip."""
    kids = {}
    for pid, (ppid, _) in table.items():
        kids.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        for c in kids.get(p, []):
            if c in skip:
                continue
            out.append(c)
            todo.append(c)
    return out


def lab_cpu_usec():
    """CPU used so far by every lab host (their cgroup), or None."""
    cg = "lab" + os.environ.get("LAB_ID", "")  # tests/lab/lib.sh: LAB_CG
    for base in (f"/sys/fs/cgroup/unified/{cg}", f"/sys/fs/cgroup/{cg}"):
        try:
            with open(f"{base}/cpu.stat") as f:
                for line in f:
                    k, v = line.split()
                    if k == "usage_usec":
                        return int(v)
        except OSError:
            continue
    return None


def measure(argv, env, cwd, out_path, timeout=None):
    """Runs argv; returns wall, controller CPU (tree), peak RSS (single process and tree sum).
    After `timeout` seconds the run's process group is killed and `timed_out` is set (its wall
    time is then a lower bound)."""
    me = os.getpid()
    # The lab hosts (started by up.sh with setsid) are adopted by this subreaper too: leave them
    # and everything under them out.
    pre = frozenset(descendants(proc_table(), me))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    lab0 = lab_cpu_usec()
    load0 = os.getloadavg()[0]
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.wait(0.05):
            t = proc_table()
            peak[0] = max(peak[0], sum(t[p][1] for p in descendants(t, me, pre) if p in t))

    with open(out_path, "wb") as out:
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                             start_new_session=timeout is not None)
        th = threading.Thread(target=sample, daemon=True)
        th.start()
        killed = []
        if timeout is not None:
            def kill():
                killed.append(True)
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            timer = threading.Timer(timeout, kill)
            timer.daemon = True
            timer.start()
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        if timeout is not None:
            timer.cancel()
    done.set()
    th.join()
    lab1 = lab_cpu_usec()
    # What the run left behind (ssh masters kept by ControlPersist): stop by PID, reap.
    table = proc_table()
    left = descendants(table, me, pre)
    for pid in left:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    mine = [pid for pid in left if table.get(pid, (0,))[0] == me]
    deadline = time.time() + 10
    while mine and time.time() < deadline:
        for pid in list(mine):
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    mine.remove(pid)
            except ChildProcessError:
                mine.remove(pid)
        time.sleep(0.01)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "rc": p.returncode,
        "wall_s": wall,
        "cpu_s": cpu,
        "maxrss_mb": ru.ru_maxrss / 1024,
        "tree_rss_peak_mb": peak[0] / 2**20,
        "lab_cpu_s": (lab1 - lab0) / 1e6 if lab0 is not None and lab1 is not None else None,
        "load_before": load0,
        "load_after": os.getloadavg()[0],
        "timed_out": bool(timeout is not None and killed),
    }


def lab_up(n):
    log(f"lab: up.sh {n}")
    subprocess.run([f"{LAB}/up.sh", str(n)], check=True, stdout=subprocess.DEVNULL)


def lab_down():
    """down.sh, reaping meanwhile the host wrappers this subreaper adopted from up.sh: down.sh
    waits for their PIDs to go away, which a zombie never does."""
    log("lab: down.sh")
    p = subprocess.Popen([f"{LAB}/down.sh"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        if pid == p.pid:
            p.returncode = os.waitstatus_to_exitcode(status)
            break


def inventory(work, n):
    """The lab's inventory cut to h1..hn."""
    src = open(f"{STATE}/inventory.ini").read().splitlines()
    keep = []
    for line in src:
        m = re.match(r"h(\d+) ", line)
        if m and int(m.group(1)) > n:
            continue
        keep.append(line)
    path = f"{work}/inv{n}.ini"
    with open(path, "w") as f:
        f.write("\n".join(keep) + "\n")
    return path


def noop_play(work, ntasks):
    """ntasks tasks cycling through file/template/copy/command; all no-ops once converged."""
    os.makedirs(f"{work}/templates", exist_ok=True)
    with open(f"{work}/templates/t.j2", "w") as f:
        f.write("host {{ inventory_hostname }}\nitem {{ item_no }}\n{% for i in range(3) %}line {{ i }}\n{% endfor %}")
    lines = ["- hosts: all", "  gather_facts: false", "  tasks:"]
    for i in range(ntasks):
        k = i % 4
        if k == 0:
            lines += [f"    - name: dir {i}", "      file:", '        path: "{{ d }}"',
                      "        state: directory", '        mode: "0755"']
        elif k == 1:
            lines += [f"    - name: template {i}", "      template:", "        src: t.j2",
                      f'        dest: "{{{{ d }}}}/t{i}.txt"', '        mode: "0644"',
                      "      vars:", f"        item_no: {i}"]
        elif k == 2:
            lines += [f"    - name: copy {i}", "      copy:", f'        content: "copy {i}\\n"',
                      f'        dest: "{{{{ d }}}}/c{i}.txt"', '        mode: "0644"']
        else:
            lines += [f"    - name: command {i}", "      command:",
                      f'        cmd: "touch {{{{ d }}}}/m{i}"', f'        creates: "{{{{ d }}}}/m{i}"']
    with open(f"{work}/ansible.cfg", "w") as f:
        f.write("[defaults]\n")
    path = f"{work}/noop{ntasks}.yml"
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def tool_cmd(tool, inv, play, nhosts, dest):
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("ANSIBLE_"):
            del env[k]
    env["ANSIBLE_CONFIG"] = os.path.join(os.path.dirname(play), "ansible.cfg")  # empty: defaults
    env["ANSIBLE_NOCOLOR"] = "1"
    extra = ["-e", f"d={dest}"]
    if tool == "rig":
        env["RIG_STATS"] = "1"
        return [RIG, "playbook", "-i", inv, play] + extra, env
    if tool == "ansible-tuned":
        env["ANSIBLE_PIPELINING"] = "True"
        env["ANSIBLE_FORKS"] = str(nhosts)
    return [f"{VENV}/bin/ansible-playbook", "-i", inv, play] + extra, env


def recap_ok(text, nhosts, want_changed0):
    """Every host in the recap, none failed/unreachable (and changed=0 on a no-op rerun)."""
    rows = re.findall(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)",
                      text, re.M)
    if len(rows) != nhosts:
        return False
    return all(u == "0" and f == "0" and (c == "0" or not want_changed0) for _, _, c, u, f in rows)


def run_case(work, name, ntasks, nhosts, tools, reps_for, results):
    play = noop_play(work, ntasks)
    inv = inventory(work, nhosts)
    # One converged state shared by every tool: rig converges it once, and every timed run of
    # every tool must then report changed=0 on every host (checked), so Ansible also verifies
    # that rig left exactly the state Ansible wants.
    dest = {t: "/srv/bench" for t in tools}
    argv, env = tool_cmd("rig", inv, play, nhosts, dest["rig"])
    out = f"{work}/{name}-converge.out"
    m = measure(argv, env, work, out)
    text = open(out, errors="replace").read()
    ok = m["rc"] == 0 and recap_ok(text, nhosts, False)
    log(f"{name} rig converge: {m['wall_s']:.2f}s rc={m['rc']} ok={ok}")
    if not ok:
        raise SystemExit(f"{name}: converge failed, see {out}:\n{text[-3000:]}")
    results.setdefault(name, {})["converge_rig"] = m
    runs = {t: [] for t in tools}
    for rep in range(max(reps_for.values())):
        for t in tools:
            if rep >= reps_for[t]:
                continue
            argv, env = tool_cmd(t, inv, play, nhosts, dest[t])
            out = f"{work}/{name}-{t}-{rep}.out"
            m = measure(argv, env, work, out)
            text = open(out, errors="replace").read()
            m["noop_ok"] = m["rc"] == 0 and recap_ok(text, nhosts, True)
            if t == "rig":
                rt = re.search(r"rig-stats: round_trips=(\d+)", text)
                m["round_trips"] = int(rt.group(1)) if rt else None
                if rt:
                    m["round_trips_per_task_host"] = int(rt.group(1)) / (ntasks * nhosts)
            log(f"{name} {t} rerun {rep + 1}: {m['wall_s']:.2f}s cpu {m['cpu_s']:.2f}s "
                f"rss {m['maxrss_mb']:.0f}/{m['tree_rss_peak_mb']:.0f} MB noop_ok={m['noop_ok']}"
                + (f" round_trips={m.get('round_trips')}" if t == "rig" else ""))
            if not m["noop_ok"]:
                log(f"  output: {out}\n{text[-2000:]}")
            runs[t].append(m)
    results.setdefault(name, {}).update(
        {"tasks": ntasks, "hosts": nhosts, "runs": runs,
         "median": medians(runs)})


def medians(runs):
    """Medians over the valid runs only (every host reachable and ok, changed=0)."""
    return {t: {k: statistics.median(r[k] for r in rs if r["noop_ok"])
                for k in ("wall_s", "cpu_s", "maxrss_mb", "tree_rss_peak_mb", "lab_cpu_s")
                if all(r.get(k) is not None for r in rs)}
            for t, rs in runs.items() if any(r["noop_ok"] for r in rs)}


def fmt_row(name, case):
    md = case["median"]
    rig = md["rig"]
    rt = [r.get("round_trips_per_task_host") for r in case["runs"]["rig"] if r["noop_ok"]]
    rt = [x for x in rt if x is not None]
    n = "/".join(str(sum(r["noop_ok"] for r in case["runs"].get(t, [])))
                 for t in ("rig", "ansible-default", "ansible-tuned"))

    def cell(t):
        if t not in md:
            return "—", "—"
        m = md[t]
        return (f"{m['wall_s']:.2f} s, {m['cpu_s']:.2f} s CPU, {m['tree_rss_peak_mb']:.0f} MB",
                f"{m['wall_s'] / rig['wall_s']:.1f}x")
    d, dr = cell("ansible-default")
    tu, tr = cell("ansible-tuned")
    return (f"| {case['tasks']} no-op tasks × {case['hosts']} hosts (n={n}) | "
            f"{rig['wall_s']:.3f} s, {rig['cpu_s']:.2f} s CPU, {rig['maxrss_mb']:.0f} MB "
            f"(tree {rig['tree_rss_peak_mb']:.0f} MB) "
            f"| {d} | {dr} | {tu} | {tr} | {statistics.median(rt) if rt else float('nan'):.2f} |")


def print_table(results, header):
    print(header)
    print()
    print("| case | rig: wall, CPU, peak RSS | Ansible default: wall, CPU, tree RSS | ratio | "
          "Ansible tuned (pipelining, forks=hosts) | ratio | rig round trips / task / host |")
    print("|---|---|---|---|---|---|---|")
    for name, case in results.items():
        if "runs" in case and "rig" in medians(case["runs"]):
            case["median"] = medians(case["runs"])
            print(fmt_row(name, case))


def main():
    if sys.argv[1] == "--table":
        # bench/lab_bench.py --table A.json B.json: one table from several runs (later wins).
        results = {}
        for path in sys.argv[2:]:
            results.update(json.load(open(path))["cases"])
        print_table(results, "")
        return
    out_json = sys.argv[1]
    work = tempfile.mkdtemp(prefix="lab-bench.")
    results = {}
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), "?")
    meta = {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
            "mem_gib": round(os.sysconf("SC_PHYS_PAGES") * PAGE / 2**30, 1),
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "ansible": subprocess.run([f"{VENV}/bin/ansible-playbook", "--version"],
                                      capture_output=True, text=True).stdout.splitlines()[0],
            "rig": subprocess.run([RIG, "--version"], capture_output=True, text=True).stdout.strip(),
            "reps": REPS, "reps100": REPS100, "reps50": REPS50}
    tools = ["rig", "ansible-default", "ansible-tuned"]
    try:
        if "noop20" in CASES or "noop100" in CASES:
            lab_up(10)
            if "noop20" in CASES:
                run_case(work, "noop20", 20, 10, tools, {t: REPS for t in tools}, results)
            if "noop100" in CASES:
                run_case(work, "noop100", 100, 10, tools,
                         {"rig": REPS, "ansible-default": REPS100, "ansible-tuned": REPS100}, results)
        if "scale50" in CASES:
            lab_up(50)
            run_case(work, "scale50", 20, 50, ["rig", "ansible-tuned"] if REPS50 else ["rig"],
                     {"rig": REPS, "ansible-tuned": REPS50}, results)
    finally:
        meta["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with open(out_json, "w") as f:
            json.dump({"machine": meta, "cases": results}, f, indent=2)
        lab_down()
    print_table(results, f"Machine: {cpu}, {os.cpu_count()} cores, {meta['mem_gib']} GiB; "
                f"{meta['ansible']}; no-op reruns, medians of n valid runs; {meta['started']}")


if __name__ == "__main__":
    main()
