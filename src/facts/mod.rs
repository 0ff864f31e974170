//! `gather_facts` without Python: one shell script ([`SCRIPT`]), one round trip, parsed here
//! into Ansible's fact names and types (`ansible_facts.hostname`, `ansible_distribution`, ...).

use crate::connection::{Become, Command, Connection, ConnectionError};
use indexmap::IndexMap;
use minijinja::Value;
use std::collections::HashMap;

/// The script run on the target.
pub const SCRIPT: &str = include_str!("script.sh");

/// Runs the fact script on a host and returns `ansible_facts` (names without the `ansible_`
/// prefix, as in `ansible_facts['hostname']`).
/// `become_`: the play's become, as Ansible runs its `setup` module (`ansible_user_id` is then
/// the become user).
pub async fn gather(
    conn: &dyn Connection,
    become_: Option<&Become>,
) -> Result<IndexMap<String, Value>, ConnectionError> {
    let mut cmd = Command::new(SCRIPT);
    cmd.become_ = become_.cloned();
    let out = conn.run(&cmd).await?;
    Ok(parse(&out.stdout_str()))
}

/// The top-level `ansible_*` variables Ansible injects for each fact (INJECT_FACTS_AS_VARS).
pub fn as_vars(facts: &IndexMap<String, Value>) -> IndexMap<String, Value> {
    let mut vars: IndexMap<String, Value> = facts
        .iter()
        .map(|(k, v)| (format!("ansible_{k}"), v.clone()))
        .collect();
    vars.insert("ansible_facts".into(), crate::value::map(facts.clone()));
    vars
}

/// Parses the script's output.
pub fn parse(output: &str) -> IndexMap<String, Value> {
    let raw = RawFacts::parse(output);
    let mut f = IndexMap::new();
    let mut put = |k: &str, v: Value| {
        f.insert(k.to_string(), v);
    };

    let nodename = raw.get("nodename").to_string();
    let hostname = nodename.split('.').next().unwrap_or_default().to_string();
    // `getent hosts ADDRESS`: the address, the canonical name, the aliases (socket.getfqdn()).
    let names: Vec<&str> = raw.get("fqdn_names").split_whitespace().skip(1).collect();
    let fqdn = names
        .iter()
        .find(|n| n.contains('.'))
        .or_else(|| names.first())
        .copied()
        .unwrap_or(&nodename)
        .to_string();
    let domain = fqdn
        .split_once('.')
        .map(|(_, d)| d.to_string())
        .unwrap_or_default();
    put("hostname", Value::from(hostname));
    put("nodename", Value::from(nodename));
    put("fqdn", Value::from(fqdn));
    put("domain", Value::from(domain));

    put("system", Value::from(raw.get("system")));
    put("kernel", Value::from(raw.get("kernel")));
    put("kernel_version", Value::from(raw.get("kernel_version")));
    let machine = raw.get("machine").to_string();
    put("machine", Value::from(machine.as_str()));
    put("architecture", Value::from(architecture(&machine)));
    put(
        "userspace_architecture",
        Value::from(architecture(&machine)),
    );
    put("userspace_bits", Value::from(raw.get("userspace_bits")));

    for (k, v) in distribution(&raw) {
        put(&k, v);
    }

    for (k, v) in processor(&raw) {
        put(&k, v);
    }
    for (k, v) in memory(&raw) {
        put(&k, v);
    }

    let pid1 = raw.get("pid1");
    let service_mgr = if pid1 == "init" || pid1.ends_with("sh") || pid1.is_empty() {
        if raw.values.contains_key("systemd_booted") {
            "systemd"
        } else {
            "sysvinit"
        }
    } else {
        pid1
    };
    put("service_mgr", Value::from(service_mgr));
    let pkg_mgr = match raw.get("pkg_cmd") {
        "apt-get" => "apt",
        "" => "unknown",
        other => other,
    };
    put("pkg_mgr", Value::from(pkg_mgr));

    for (k, v) in user(&raw) {
        put(&k, v);
    }
    put("env", env(&raw));
    for (k, v) in network(&raw) {
        put(&k, v);
    }
    put("machine_id", Value::from(raw.get("machine_id")));
    if let Ok(up) = raw.get("uptime").parse::<f64>() {
        put("uptime_seconds", Value::from(up as i64));
    }
    let load: Vec<f64> = raw
        .get("loadavg")
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    if load.len() == 3 {
        put(
            "loadavg",
            crate::value::map(
                [("1m", load[0]), ("5m", load[1]), ("15m", load[2])]
                    .map(|(k, v)| (k, Value::from(v))),
            ),
        );
    }
    put("dns", dns(&raw));
    put("date_time", date_time(&raw));
    put("fips", Value::from(false));
    let virt = raw.get("virt");
    if !virt.is_empty() && virt != "none" {
        put("virtualization_type", Value::from(virt));
        let role = if raw.values.contains_key("openvz_host") {
            "host"
        } else {
            "guest"
        };
        put("virtualization_role", Value::from(role));
    }
    put("gather_subset", Value::from(vec![Value::from("all")]));
    put("module_setup", Value::from(true));
    f
}

/// The script's output: `key=value` lines, `::rig:NAME` sections (see script.sh), and the
/// values derived from them under the keys the fact builders read.
struct RawFacts {
    values: HashMap<String, String>,
    /// File contents by path, from the `files` section (`path:line`, one per line read).
    files: HashMap<String, String>,
}

impl RawFacts {
    fn parse(output: &str) -> Self {
        let mut values: HashMap<String, String> = HashMap::new();
        let mut files: HashMap<String, String> = HashMap::new();
        let mut section = "kv";
        for line in output.lines() {
            if let Some(name) = line.strip_prefix("::rig:") {
                section = name;
                continue;
            }
            let (map, key, value) = match section {
                "kv" => match line.split_once('=') {
                    Some((k, v)) => {
                        values.insert(k.to_string(), v.to_string());
                        continue;
                    }
                    None => continue,
                },
                // Paths have no ':'; the line is whatever follows the first one.
                "files" => match line.split_once(':') {
                    Some((path, rest)) => (&mut files, path, rest),
                    None => continue,
                },
                other => (&mut values, other, line),
            };
            let entry = map.entry(key.to_string()).or_default();
            entry.push_str(value);
            entry.push('\n');
        }
        let mut raw = RawFacts { values, files };
        raw.derive();
        raw
    }

    /// Fills the keys the fact builders read from the files read.
    fn derive(&mut self) {
        let file = |p: &str| self.files.get(p).map(String::as_str).unwrap_or("");
        let first_words = |p: &str, n: usize| {
            file(p)
                .split_whitespace()
                .take(n)
                .collect::<Vec<_>>()
                .join(" ")
        };
        let mut set: Vec<(&str, String)> = vec![
            ("nodename", file("/proc/sys/kernel/hostname").trim().into()),
            ("system", file("/proc/sys/kernel/ostype").trim().into()),
            ("kernel", file("/proc/sys/kernel/osrelease").trim().into()),
            (
                "kernel_version",
                file("/proc/sys/kernel/version").trim().into(),
            ),
            ("os_release", file("/etc/os-release").into()),
            ("debian_version", file("/etc/debian_version").trim().into()),
            ("cpuinfo", file("/proc/cpuinfo").into()),
            ("meminfo", file("/proc/meminfo").into()),
            ("pid1", file("/proc/1/comm").trim().into()),
            ("machine_id", file("/etc/machine-id").trim().into()),
            ("uptime", first_words("/proc/uptime", 1)),
            ("loadavg", first_words("/proc/loadavg", 3)),
            ("resolv", file("/etc/resolv.conf").into()),
            (
                "userspace_bits",
                userspace_bits(file("/proc/self/maps")).into(),
            ),
            ("virt", virtualization(self).unwrap_or_default()),
        ];
        let arch = file("/proc/sys/kernel/arch").trim();
        if !arch.is_empty() {
            set.push(("machine", arch.into()));
        }
        let status = file("/proc/self/status");
        let ids = |key: &str| -> Vec<String> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .map(|v| v.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default()
        };
        let (uid, gid) = (ids("Uid:"), ids("Gid:"));
        let nth = |v: &[String], i: usize| v.get(i).cloned().unwrap_or_default();
        set.push(("real_uid", nth(&uid, 0)));
        set.push(("effective_uid", nth(&uid, 1)));
        set.push(("real_gid", nth(&gid, 0)));
        if let Some(n) = ids("Cpus_allowed_list:")
            .first()
            .and_then(|l| cpu_list_len(l))
        {
            set.push(("nproc", n.to_string()));
        }
        for (k, v) in set {
            self.values.insert(k.to_string(), v);
        }
    }

    fn get(&self, key: &str) -> &str {
        self.values.get(key).map(String::as_str).unwrap_or("")
    }

    fn file(&self, path: &str) -> &str {
        self.files.get(path).map(String::as_str).unwrap_or("")
    }
}

/// How many CPUs a `Cpus_allowed_list` (`0-3,8,10-11`) names.
fn cpu_list_len(list: &str) -> Option<usize> {
    let mut n = 0;
    for part in list.split(',').filter(|p| !p.is_empty()) {
        n += match part.split_once('-') {
            Some((a, b)) => {
                b.parse::<usize>()
                    .ok()?
                    .checked_sub(a.parse::<usize>().ok()?)?
                    + 1
            }
            None => {
                part.parse::<usize>().ok()?;
                1
            }
        };
    }
    (n > 0).then_some(n)
}

/// `64` or `32`: the word size of the gathering process (what `getconf LONG_BIT` and Python's
/// `platform.architecture()` report), from where its stack is mapped: above 4 GiB only in a
/// 64-bit process.
fn userspace_bits(maps: &str) -> &'static str {
    let Some(start) = maps
        .lines()
        .find(|l| l.trim_end().ends_with("[stack]"))
        .and_then(|l| l.split('-').next())
    else {
        return "";
    };
    if start.trim_start_matches('0').len() > 8 {
        "64"
    } else {
        "32"
    }
}

/// `virtualization_type` for a container, as Ansible's LinuxVirtual decides it (its container
/// checks, in its order: /proc/1/cgroup, pid 1's `container=`, OpenVZ, /run/systemd/container,
/// /.dockerenv). `None` outside a container.
fn virtualization(raw: &RawFacts) -> Option<String> {
    for line in raw.file("/proc/1/cgroup").lines() {
        let docker = line.contains("/docker/")
            || line.split("/docker-").skip(1).any(|rest| {
                rest.split_once(".scope").is_some_and(|(id, _)| {
                    !id.is_empty() && id.chars().all(|c| c.is_ascii_hexdigit())
                })
            });
        if docker {
            return Some("docker".into());
        }
        if line.contains("/lxc/") || line.contains("/machine.slice/machine-lxc") {
            return Some("lxc".into());
        }
        if line.contains("/system.slice/containerd.service") {
            return Some("containerd".into());
        }
    }
    let environ = raw.file("/proc/1/environ");
    for var in environ.trim_end_matches('\n').split('\0') {
        if var.contains("container=lxc") {
            return Some("lxc".into());
        }
        if var.contains("container=podman") {
            return Some("podman".into());
        }
        if var
            .strip_prefix("container=")
            .is_some_and(|v| !v.is_empty())
        {
            return Some("container".into());
        }
    }
    if raw.values.contains_key("openvz") {
        return Some("openvz".into());
    }
    let systemd = raw.file("/run/systemd/container").trim();
    if !systemd.is_empty() {
        return Some(systemd.into());
    }
    raw.values
        .contains_key("dockerenv")
        .then(|| "docker".to_string())
}

fn architecture(machine: &str) -> &str {
    match machine {
        "i386" | "i486" | "i586" | "i686" => "i386",
        other => other,
    }
}

/// `/etc/os-release` as a map, quotes removed.
fn os_release(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            (
                k.trim().to_string(),
                v.trim().trim_matches('"').trim_matches('\'').to_string(),
            )
        })
        .collect()
}

fn distribution(raw: &RawFacts) -> Vec<(String, Value)> {
    let os = os_release(raw.get("os_release"));
    let name = os.get("NAME").map(String::as_str).unwrap_or("");
    let id = os.get("ID").map(String::as_str).unwrap_or("");
    let distribution = match id {
        "debian" => "Debian".to_string(),
        "ubuntu" => "Ubuntu".to_string(),
        "" => "NA".to_string(),
        _ => name.split_whitespace().next().unwrap_or(name).to_string(),
    };
    let os_family = match id {
        "debian" | "ubuntu" | "linuxmint" | "raspbian" | "kali" | "devuan" => "Debian",
        "rhel" | "centos" | "fedora" | "rocky" | "almalinux" | "amzn" | "ol" => "RedHat",
        "alpine" => "Alpine",
        "arch" => "Archlinux",
        "sles" | "opensuse" | "opensuse-leap" => "Suse",
        _ => distribution.as_str(),
    }
    .to_string();
    // Debian's full version comes from /etc/debian_version (12.11); others from VERSION_ID.
    let debian_version = raw.get("debian_version").trim();
    let version = if id == "debian"
        && debian_version
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
    {
        debian_version.to_string()
    } else {
        os.get("VERSION_ID").cloned().unwrap_or_default()
    };
    let major = version.split('.').next().unwrap_or_default().to_string();
    let minor = version.split('.').nth(1).unwrap_or_default().to_string();
    let release = os.get("VERSION_CODENAME").cloned().unwrap_or_default();
    let mut out = vec![
        ("distribution".to_string(), Value::from(distribution)),
        ("distribution_version".to_string(), Value::from(version)),
        ("distribution_major_version".to_string(), Value::from(major)),
        ("distribution_release".to_string(), Value::from(release)),
        ("os_family".to_string(), Value::from(os_family.as_str())),
        (
            "distribution_file_variety".to_string(),
            Value::from(os_family),
        ),
    ];
    if !minor.is_empty() {
        out.push(("distribution_minor_version".to_string(), Value::from(minor)));
    }
    out.push(("lsb".to_string(), lsb(raw)));
    out
}

/// Ansible's `lsb`: from `lsb_release -a` when it is installed and says something, else from
/// /etc/lsb-release, else empty.
fn lsb(raw: &RawFacts) -> Value {
    let mut m: IndexMap<&str, String> = IndexMap::new();
    for line in raw.get("lsb").lines() {
        let Some((_, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim().to_string();
        let key = [
            ("LSB Version:", "release"),
            ("Distributor ID:", "id"),
            ("Description:", "description"),
            ("Release:", "release"),
            ("Codename:", "codename"),
        ]
        .into_iter()
        .find(|(label, _)| line.contains(label));
        if let Some((_, k)) = key {
            m.insert(k, v);
        }
    }
    if m.is_empty() {
        for line in raw.file("/etc/lsb-release").lines() {
            let Some((_, v)) = line.split_once('=') else {
                continue;
            };
            let v = v.trim().to_string();
            let key = [
                ("DISTRIB_ID", "id"),
                ("DISTRIB_RELEASE", "release"),
                ("DISTRIB_DESCRIPTION", "description"),
                ("DISTRIB_CODENAME", "codename"),
            ]
            .into_iter()
            .find(|(label, _)| line.contains(label));
            if let Some((_, k)) = key {
                m.insert(k, v);
            }
        }
    }
    if let Some(r) = m.get("release") {
        let major = r.split('.').next().unwrap_or_default().to_string();
        m.insert("major_release", major);
    }
    for v in m.values_mut() {
        *v = v.trim_matches(['\'', '"', '\\']).to_string();
    }
    m.sort_keys();
    crate::value::map(m)
}

fn processor(raw: &RawFacts) -> Vec<(String, Value)> {
    let mut list = Vec::new();
    let mut physical_ids = std::collections::BTreeSet::new();
    let mut cores = 0i64;
    let mut siblings = 0i64;
    let mut vendor = String::new();
    for line in raw.get("cpuinfo").lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        match k {
            "processor" => list.push(Value::from(v)),
            "vendor_id" => {
                vendor = v.to_string();
                list.push(Value::from(v));
            }
            "model name" => list.push(Value::from(v)),
            "physical id" => {
                physical_ids.insert(v.to_string());
            }
            "cpu cores" => cores = v.parse().unwrap_or(0),
            "siblings" => siblings = v.parse().unwrap_or(0),
            _ => {}
        }
    }
    let _ = vendor;
    let count = physical_ids.len().max(1) as i64;
    let cores = cores.max(1);
    let threads = if siblings > 0 {
        (siblings / cores).max(1)
    } else {
        1
    };
    let nproc: i64 = raw
        .get("nproc")
        .trim()
        .parse()
        .unwrap_or(count * cores * threads);
    vec![
        ("processor".into(), Value::from(list)),
        ("processor_count".into(), Value::from(count)),
        ("processor_cores".into(), Value::from(cores)),
        ("processor_threads_per_core".into(), Value::from(threads)),
        (
            "processor_vcpus".into(),
            Value::from(count * cores * threads),
        ),
        ("processor_nproc".into(), Value::from(nproc)),
    ]
}

fn memory(raw: &RawFacts) -> Vec<(String, Value)> {
    let mut kb: HashMap<&str, i64> = HashMap::new();
    for line in raw.get("meminfo").lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let n = v
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        kb.insert(k.trim(), n);
    }
    let mb = |k: &str| kb.get(k).copied().unwrap_or(0) / 1024;
    let (total, free) = (mb("MemTotal"), mb("MemFree"));
    let nocache_free = free + mb("Buffers") + mb("Cached");
    let memory_mb = crate::value::map([
        (
            "nocache",
            crate::value::map([("free", nocache_free), ("used", total - nocache_free)]),
        ),
        (
            "real",
            crate::value::map([("free", free), ("total", total), ("used", total - free)]),
        ),
        (
            "swap",
            crate::value::map([
                ("cached", mb("SwapCached")),
                ("free", mb("SwapFree")),
                ("total", mb("SwapTotal")),
                ("used", mb("SwapTotal") - mb("SwapFree")),
            ]),
        ),
    ]);
    vec![
        ("memtotal_mb".into(), Value::from(total)),
        ("memfree_mb".into(), Value::from(free)),
        ("swaptotal_mb".into(), Value::from(mb("SwapTotal"))),
        ("swapfree_mb".into(), Value::from(mb("SwapFree"))),
        ("memory_mb".into(), memory_mb),
    ]
}

/// Ansible's user facts: `user_id` is `getpass.getuser()` (LOGNAME, USER, LNAME, USERNAME, else
/// the uid's name), uid/gid/gecos/dir/shell its passwd entry (the uid's when it has none), the
/// real/effective ids the process's; `effective_group_id` is the real gid, as Ansible has it.
fn user(raw: &RawFacts) -> Vec<(String, Value)> {
    let passwd: Vec<&str> = raw.get("passwd").trim_end().split(':').collect();
    let field = |i: usize| passwd.get(i).copied().unwrap_or("").to_string();
    let num = |k: &str| raw.get(k).trim().parse::<i64>().unwrap_or(-1);
    let pw_num = |i: usize, fallback: &str| {
        passwd
            .get(i)
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or_else(|| num(fallback))
    };
    let name = match raw.get("user_id") {
        "" => field(0),
        n => n.to_string(),
    };
    vec![
        ("user_id".into(), Value::from(name)),
        ("user_uid".into(), Value::from(pw_num(2, "real_uid"))),
        ("user_gid".into(), Value::from(pw_num(3, "real_gid"))),
        ("user_gecos".into(), Value::from(field(4))),
        ("user_dir".into(), Value::from(field(5))),
        ("user_shell".into(), Value::from(field(6))),
        (
            "effective_user_id".into(),
            Value::from(num("effective_uid")),
        ),
        ("effective_group_id".into(), Value::from(num("real_gid"))),
        ("real_user_id".into(), Value::from(num("real_uid"))),
        ("real_group_id".into(), Value::from(num("real_gid"))),
    ]
}

/// The environment the script's commands get (grep's /proc/self/environ: NUL-separated, exact).
fn env(raw: &RawFacts) -> Value {
    let mut m: IndexMap<String, String> = IndexMap::new();
    // grep ends its last line with a newline the file does not have (it ends with NUL).
    let environ = raw.file("/proc/self/environ");
    for var in environ.strip_suffix('\n').unwrap_or(environ).split('\0') {
        if let Some((k, v)) = var.split_once('=')
            && !k.is_empty()
        {
            m.insert(k.to_string(), v.to_string());
        }
    }
    m.sort_keys();
    crate::value::map(m)
}

fn network(raw: &RawFacts) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    // `ip -o -batch -`: `route get 8.8.8.8`, `addr show`, `link show`.
    let ip = raw.get("ip");
    let route = ip.lines().find(|l| l.starts_with("8.8.8.8 ")).unwrap_or("");
    let word_after = |text: &str, key: &str| -> String {
        let mut it = text.split_whitespace();
        while let Some(w) = it.next() {
            if w == key {
                return it.next().unwrap_or("").to_string();
            }
        }
        String::new()
    };
    let mut default = IndexMap::new();
    if !route.trim().is_empty() {
        let dev = word_after(route, "dev");
        let gateway = word_after(route, "via");
        let src = word_after(route, "src");
        // `2: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0`
        let on_dev = |l: &&str| l.split_whitespace().nth(1) == Some(dev.as_str());
        let addr_line = ip
            .lines()
            .filter(on_dev)
            .find(|l| l.contains(&format!(" inet {src}/")))
            .unwrap_or("");
        let cidr = word_after(addr_line, "inet");
        let prefix: u32 = cidr
            .split('/')
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or(32);
        // `2: eth0@if9: <BROADCAST,...> mtu 1500 ... link/ether 02:...`
        let link = ip
            .lines()
            .find(|l| {
                l.split_whitespace().nth(1).is_some_and(|n| {
                    let n = n.strip_suffix(':').unwrap_or("");
                    n == dev || n.split_once('@').is_some_and(|(d, _)| d == dev)
                })
            })
            .unwrap_or("");
        let mac = word_after(link, "link/ether");
        let mtu: i64 = word_after(link, "mtu").parse().unwrap_or(0);
        let addr: std::net::Ipv4Addr = src.parse().unwrap_or(std::net::Ipv4Addr::UNSPECIFIED);
        let mask = if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - prefix)
        };
        let netmask = std::net::Ipv4Addr::from(mask);
        let network = std::net::Ipv4Addr::from(u32::from(addr) & mask);
        default.insert("address", Value::from(src.as_str()));
        default.insert("alias", Value::from(dev.as_str()));
        default.insert("broadcast", Value::from(word_after(addr_line, "brd")));
        default.insert("gateway", Value::from(gateway));
        default.insert("interface", Value::from(dev.as_str()));
        default.insert("macaddress", Value::from(mac));
        default.insert("mtu", Value::from(mtu));
        default.insert("netmask", Value::from(netmask.to_string()));
        default.insert("network", Value::from(network.to_string()));
        default.insert("prefix", Value::from(prefix.to_string()));
        default.insert(
            "type",
            Value::from(if link.contains("link/ether") {
                "ether"
            } else {
                "unknown"
            }),
        );
    }
    out.push(("default_ipv4".to_string(), crate::value::map(default)));
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for line in ip.lines() {
        if let Some(a) = word_after_opt(line, "inet") {
            let ip = a.split('/').next().unwrap_or("");
            if !ip.starts_with("127.") {
                v4.push(Value::from(ip));
            }
        } else if let Some(a) = word_after_opt(line, "inet6") {
            let ip = a.split('/').next().unwrap_or("");
            if ip != "::1" {
                v6.push(Value::from(ip));
            }
        }
    }
    out.push(("all_ipv4_addresses".into(), Value::from(v4)));
    out.push(("all_ipv6_addresses".into(), Value::from(v6)));
    let ifaces: Vec<Value> = raw
        .get("interfaces")
        .split_whitespace()
        .map(Value::from)
        .collect();
    out.push(("interfaces".into(), Value::from(ifaces)));
    out
}

fn word_after_opt(text: &str, key: &str) -> Option<String> {
    let mut it = text.split_whitespace();
    while let Some(w) = it.next() {
        if w == key {
            return it.next().map(str::to_string);
        }
    }
    None
}

fn dns(raw: &RawFacts) -> Value {
    let mut nameservers = Vec::new();
    let mut search = Vec::new();
    let mut domain = None;
    for line in raw.get("resolv").lines() {
        let mut w = line.split_whitespace();
        match w.next() {
            Some("nameserver") => nameservers.extend(w.next().map(Value::from)),
            Some("search") => search.extend(w.map(Value::from)),
            Some("domain") => domain = w.next().map(Value::from),
            _ => {}
        }
    }
    let mut m = IndexMap::new();
    if let Some(d) = domain {
        m.insert("domain", d);
    }
    if !nameservers.is_empty() {
        m.insert("nameservers", Value::from(nameservers));
    }
    if !search.is_empty() {
        m.insert("search", Value::from(search));
    }
    crate::value::map(m)
}

fn date_time(raw: &RawFacts) -> Value {
    let mut epoch_parts = raw.get("date").split_whitespace();
    let epoch: i64 = epoch_parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let nanos: u64 = epoch_parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let micros = format!("{:06}", nanos / 1000);
    let local: Vec<&str> = raw.get("date_local").split_whitespace().collect();
    let l = |i: usize| local.get(i).copied().unwrap_or("").to_string();
    let mut tz = raw.get("tz").split_whitespace();
    let tz_name = tz.next().unwrap_or("UTC").to_string();
    let tz_offset = tz.next().unwrap_or("+0000").to_string();
    let (utc_date, utc_time) = utc_from_epoch(epoch);
    let basic_date = format!("{}{}{}", l(0), l(1), l(2));
    let basic_time = format!("{}{}{}", l(3), l(4), l(5));
    let pairs: Vec<(&str, String)> = vec![
        ("date", format!("{}-{}-{}", l(0), l(1), l(2))),
        ("day", l(2)),
        ("epoch", epoch.to_string()),
        ("epoch_int", epoch.to_string()),
        ("hour", l(3)),
        ("iso8601", format!("{utc_date}T{utc_time}Z")),
        (
            "iso8601_basic",
            format!("{basic_date}T{basic_time}{micros}"),
        ),
        ("iso8601_basic_short", format!("{basic_date}T{basic_time}")),
        ("iso8601_micro", format!("{utc_date}T{utc_time}.{micros}Z")),
        ("minute", l(4)),
        ("month", l(1)),
        ("second", l(5)),
        ("time", format!("{}:{}:{}", l(3), l(4), l(5))),
        ("tz", tz_name.clone()),
        ("tz_dst", tz_name),
        ("tz_offset", tz_offset),
        ("weekday", l(6)),
        ("weekday_number", l(7)),
        ("weeknumber", l(9)),
        ("year", l(0)),
    ];
    crate::value::map(pairs.into_iter().map(|(k, v)| (k, Value::from(v))))
}

/// `YYYY-MM-DD` and `HH:MM:SS` in UTC for a Unix time (civil-from-days, proleptic Gregorian).
fn utc_from_epoch(epoch: i64) -> (String, String) {
    let days = epoch.div_euclid(86_400);
    let secs = epoch.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        format!("{y:04}-{m:02}-{d:02}"),
        format!(
            "{:02}:{:02}:{:02}",
            secs / 3600,
            secs % 3600 / 60,
            secs % 60
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc_from_epoch(0), ("1970-01-01".into(), "00:00:00".into()));
        assert_eq!(
            utc_from_epoch(1_795_698_202),
            ("2026-11-26".into(), "13:03:22".into())
        );
    }

    /// What the script printed on a lab host (Debian 12 in systemd-nspawn), shortened.
    const SAMPLE: &str = "::rig:files
/etc/os-release:PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"
/etc/os-release:NAME=\"Debian GNU/Linux\"
/etc/os-release:VERSION_ID=\"12\"
/etc/os-release:VERSION_CODENAME=bookworm
/etc/os-release:ID=debian
/etc/debian_version:12.11
/etc/machine-id:bb7804db2887450982ff29a71c7a05e2
/etc/resolv.conf:nameserver 10.0.0.53
/etc/resolv.conf:search example.com lab
/proc/sys/kernel/hostname:web1
/proc/sys/kernel/ostype:Linux
/proc/sys/kernel/osrelease:6.1.0-9-amd64
/proc/sys/kernel/version:#1 SMP PREEMPT_DYNAMIC Debian 6.1.27-1 (2023-05-08)
/proc/sys/kernel/arch:x86_64
/proc/uptime:20960.42 7138.91
/proc/loadavg:1.91 1.62 2.11 3/212 790
/proc/1/comm:systemd
/proc/self/environ:HOME=/root\0LOGNAME=root\0MULTI=a
/proc/self/environ:b\0BASH_FUNC_f%%=() {  true
/proc/self/environ:}\0EMPTY=\0
/proc/1/environ:PATH=/usr/bin\0container=systemd-nspawn\0TERM=xterm\0
/proc/1/cgroup:0::/init.scope
/run/systemd/container:systemd-nspawn
/proc/cpuinfo:processor\t: 0
/proc/cpuinfo:vendor_id\t: AuthenticAMD
/proc/cpuinfo:model name\t: AMD EPYC
/proc/cpuinfo:physical id\t: 0
/proc/cpuinfo:siblings\t: 2
/proc/cpuinfo:cpu cores\t: 2
/proc/cpuinfo:processor\t: 1
/proc/cpuinfo:vendor_id\t: AuthenticAMD
/proc/cpuinfo:model name\t: AMD EPYC
/proc/cpuinfo:physical id\t: 0
/proc/cpuinfo:siblings\t: 2
/proc/cpuinfo:cpu cores\t: 2
/proc/meminfo:MemTotal:       24684084 kB
/proc/meminfo:MemFree:        11784912 kB
/proc/meminfo:Buffers:          338116 kB
/proc/meminfo:Cached:         11454000 kB
/proc/meminfo:SwapCached:            0 kB
/proc/meminfo:SwapTotal:             0 kB
/proc/meminfo:SwapFree:              0 kB
/proc/self/status:Uid:\t1000\t1001\t1001\t1001
/proc/self/status:Gid:\t100\t101\t101\t101
/proc/self/status:Cpus_allowed_list:\t0-1,4
/proc/self/maps:7ffd3417e000-7ffd3419f000 rw-p 00000000 00:00 0                          [stack]
::rig:kv
systemd_booted=1
pkg_cmd=apt-get
user_id=deploy
passwd=deploy:x:1000:100:Deploy User,,,:/home/deploy:/bin/bash
date=1795718416 986914358
tz=UTC +0000
date_local=2026 11 26 18 40 16 Thursday 4 330 47 Thu Nov November
fqdn_names=10.236.0.11     web1.example.com web1
::rig:ip
8.8.8.8 via 10.236.0.1 dev eth0 src 10.236.0.11 uid 0 \\    cache 
1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
1: lo    inet6 ::1/128 scope host \\       valid_lft forever preferred_lft forever
2: eth0    inet 10.236.0.11/24 brd 10.236.0.255 scope global eth0\\       valid_lft forever preferred_lft forever
2: eth0    inet6 fe80::6079:2cff:fe1e:4744/64 scope link \\       valid_lft forever preferred_lft forever
1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\\    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00
2: eth0@if1021: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1400 qdisc noqueue state UP mode DEFAULT group default qlen 1000\\    link/ether 62:79:2c:1e:47:44 brd ff:ff:ff:ff:ff:ff link-netnsid 0
::rig:interfaces
lv2
eth0
lo
";

    fn json(v: &Value) -> String {
        serde_json::to_string(v).unwrap_or_default()
    }

    #[test]
    fn parses_a_lab_host() {
        let f = parse(SAMPLE);
        let s = |k: &str| json(&f[k]);
        assert_eq!(s("distribution"), r#""Debian""#);
        assert_eq!(s("distribution_version"), r#""12.11""#);
        assert_eq!(s("distribution_major_version"), r#""12""#);
        assert_eq!(s("distribution_release"), r#""bookworm""#);
        assert_eq!(s("os_family"), r#""Debian""#);
        assert_eq!(s("hostname"), r#""web1""#);
        assert_eq!(s("nodename"), r#""web1""#);
        assert_eq!(s("fqdn"), r#""web1.example.com""#);
        assert_eq!(s("domain"), r#""example.com""#);
        assert_eq!(s("system"), r#""Linux""#);
        assert_eq!(s("kernel"), r#""6.1.0-9-amd64""#);
        assert_eq!(
            s("kernel_version"),
            r##""#1 SMP PREEMPT_DYNAMIC Debian 6.1.27-1 (2023-05-08)""##
        );
        assert_eq!(s("machine"), r#""x86_64""#);
        assert_eq!(s("userspace_bits"), r#""64""#);
        assert_eq!(s("machine_id"), r#""bb7804db2887450982ff29a71c7a05e2""#);
        assert_eq!(s("service_mgr"), r#""systemd""#);
        assert_eq!(s("pkg_mgr"), r#""apt""#);
        assert_eq!(s("uptime_seconds"), "20960");
        assert_eq!(s("loadavg"), r#"{"1m":1.91,"5m":1.62,"15m":2.11}"#);
        assert_eq!(
            s("processor"),
            r#"["0","AuthenticAMD","AMD EPYC","1","AuthenticAMD","AMD EPYC"]"#
        );
        assert_eq!(s("processor_count"), "1");
        assert_eq!(s("processor_cores"), "2");
        assert_eq!(s("processor_vcpus"), "2");
        assert_eq!(s("processor_nproc"), "3");
        assert_eq!(s("memtotal_mb"), "24105");
        assert_eq!(
            s("dns"),
            r#"{"nameservers":["10.0.0.53"],"search":["example.com","lab"]}"#
        );
        // pid 1's `container=` decides before /run/systemd/container, as in Ansible.
        assert_eq!(s("virtualization_type"), r#""container""#);
        assert_eq!(s("virtualization_role"), r#""guest""#);
        assert_eq!(s("interfaces"), r#"["lv2","eth0","lo"]"#);
        assert_eq!(s("all_ipv4_addresses"), r#"["10.236.0.11"]"#);
        assert_eq!(s("all_ipv6_addresses"), r#"["fe80::6079:2cff:fe1e:4744"]"#);
        assert_eq!(
            s("default_ipv4"),
            r#"{"address":"10.236.0.11","alias":"eth0","broadcast":"10.236.0.255","gateway":"10.236.0.1","interface":"eth0","macaddress":"62:79:2c:1e:47:44","mtu":1400,"netmask":"255.255.255.0","network":"10.236.0.0","prefix":"24","type":"ether"}"#
        );
        assert!(s("date_time").contains(r#""epoch":"1795718416""#));
        assert!(s("date_time").contains(r#""iso8601_micro":"2026-11-26T18:40:16.986914Z""#));
    }

    #[test]
    fn env_is_exact() {
        let f = parse(SAMPLE);
        assert_eq!(
            json(&f["env"]),
            r#"{"BASH_FUNC_f%%":"() {  true\n}","EMPTY":"","HOME":"/root","LOGNAME":"root","MULTI":"a\nb"}"#
        );
    }

    #[test]
    fn user_facts_as_ansible() {
        let f = parse(SAMPLE);
        let s = |k: &str| json(&f[k]);
        assert_eq!(s("user_id"), r#""deploy""#);
        // uid/gid from the passwd entry, the rest from the process (effective_group_id is the
        // real gid in Ansible).
        assert_eq!(s("user_uid"), "1000");
        assert_eq!(s("user_gid"), "100");
        assert_eq!(s("user_gecos"), r#""Deploy User,,,""#);
        assert_eq!(s("user_dir"), r#""/home/deploy""#);
        assert_eq!(s("user_shell"), r#""/bin/bash""#);
        assert_eq!(s("real_user_id"), "1000");
        assert_eq!(s("effective_user_id"), "1001");
        assert_eq!(s("real_group_id"), "100");
        assert_eq!(s("effective_group_id"), "100");
        // No name in the environment: the passwd entry's.
        let f = parse(&SAMPLE.replace("user_id=deploy\n", "user_id=\n"));
        assert_eq!(json(&f["user_id"]), r#""deploy""#);
    }

    #[test]
    fn missing_files_give_empty_facts() {
        let f = parse("::rig:files\n::rig:kv\nmachine=armv7l\n");
        assert_eq!(f["distribution"], Value::from("NA"));
        assert_eq!(f["machine"], Value::from("armv7l"));
        assert_eq!(f["kernel"], Value::from(""));
        assert_eq!(f["userspace_bits"], Value::from(""));
        assert_eq!(json(&f["env"]), "{}");
        assert_eq!(json(&f["default_ipv4"]), "{}");
        assert!(!f.contains_key("virtualization_type"));
        assert_eq!(json(&f["lsb"]), "{}");
    }

    #[test]
    fn virtualization_in_ansible_order() {
        let virt = |files: &str, kv: &str| {
            let f = parse(&format!("::rig:files\n{files}::rig:kv\n{kv}"));
            f.get("virtualization_type").map(json)
        };
        assert_eq!(
            virt("/run/systemd/container:systemd-nspawn\n", ""),
            Some(r#""systemd-nspawn""#.into())
        );
        assert_eq!(
            virt(
                "/proc/1/cgroup:0::/system.slice/docker-0abc.scope\n/proc/1/environ:container=podman\0\n",
                ""
            ),
            Some(r#""docker""#.into())
        );
        assert_eq!(
            virt("/proc/1/environ:container=podman\0\n", ""),
            Some(r#""podman""#.into())
        );
        assert_eq!(virt("", "dockerenv=1\n"), Some(r#""docker""#.into()));
        assert_eq!(virt("/proc/1/cgroup:0::/init.scope\n", ""), None);
    }

    #[test]
    fn lsb_from_etc_lsb_release() {
        let f = parse(
            "::rig:files\n/etc/lsb-release:DISTRIB_ID=Ubuntu\n/etc/lsb-release:DISTRIB_RELEASE=22.04\n/etc/lsb-release:DISTRIB_CODENAME=jammy\n/etc/lsb-release:DISTRIB_DESCRIPTION=\"Ubuntu 22.04.4 LTS\"\n",
        );
        assert_eq!(
            json(&f["lsb"]),
            r#"{"codename":"jammy","description":"Ubuntu 22.04.4 LTS","id":"Ubuntu","major_release":"22","release":"22.04"}"#
        );
    }

    #[test]
    fn cpu_lists_and_bits() {
        assert_eq!(cpu_list_len("0-3,8,10-11"), Some(7));
        assert_eq!(cpu_list_len("0"), Some(1));
        assert_eq!(cpu_list_len(""), None);
        assert_eq!(cpu_list_len("3-1"), None);
        assert_eq!(
            userspace_bits("ffd3e000-fff00000 rw-p 0 00:00 0   [stack]\n"),
            "32"
        );
        assert_eq!(userspace_bits(""), "");
    }

    #[test]
    fn lsb_section() {
        let f = parse(
            "::rig:lsb\nDistributor ID:\tDebian\nDescription:\tDebian GNU/Linux 12 (bookworm)\nRelease:\t12\nCodename:\tbookworm\n",
        );
        assert_eq!(
            json(&f["lsb"]),
            r#"{"codename":"bookworm","description":"Debian GNU/Linux 12 (bookworm)","id":"Debian","major_release":"12","release":"12"}"#
        );
    }
}
