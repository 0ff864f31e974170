//! `gather_facts` without Python: one shell script ([`SCRIPT`]), one round trip, parsed here
//! into Ansible's fact names and types (`ansible_facts.hostname`, `ansible_distribution`, ...).

use crate::connection::{Command, Connection, ConnectionError};
use base64::Engine as _;
use indexmap::IndexMap;
use minijinja::Value;
use std::collections::HashMap;

/// The script run on the target.
pub const SCRIPT: &str = include_str!("script.sh");

/// Runs the fact script on a host and returns `ansible_facts` (names without the `ansible_`
/// prefix, as in `ansible_facts['hostname']`).
pub async fn gather(conn: &dyn Connection) -> Result<IndexMap<String, Value>, ConnectionError> {
    let out = conn.run(&Command::new(SCRIPT)).await?;
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
    let fqdn = raw
        .get("fqdn_names")
        .split_whitespace()
        .find(|n| n.contains('.'))
        .or_else(|| raw.get("fqdn_names").split_whitespace().next())
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
        put("virtualization_role", Value::from("guest"));
    }
    put("gather_subset", Value::from(vec![Value::from("all")]));
    put("module_setup", Value::from(true));
    f
}

/// `key=value` and `key:b64=...` lines.
struct RawFacts {
    values: HashMap<String, String>,
}

impl RawFacts {
    fn parse(output: &str) -> Self {
        let mut values = HashMap::new();
        for line in output.lines() {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            if let Some(key) = key.strip_suffix(":b64") {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(value.trim())
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                values.insert(key.to_string(), decoded);
            } else {
                values.insert(key.to_string(), value.to_string());
            }
        }
        RawFacts { values }
    }

    fn get(&self, key: &str) -> &str {
        self.values.get(key).map(String::as_str).unwrap_or("")
    }
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
    let lsb = raw.get("lsb");
    if !lsb.is_empty() {
        let mut m = IndexMap::new();
        for line in lsb.lines() {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            let v = v.trim();
            match k.trim() {
                "Distributor ID" => m.insert("id", v.to_string()),
                "Description" => m.insert("description", v.to_string()),
                "Release" => {
                    m.insert(
                        "major_release",
                        v.split('.').next().unwrap_or(v).to_string(),
                    );
                    m.insert("release", v.to_string())
                }
                "Codename" => m.insert("codename", v.to_string()),
                _ => None,
            };
        }
        m.sort_keys();
        out.push(("lsb".to_string(), crate::value::map(m)));
    }
    out
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

fn user(raw: &RawFacts) -> Vec<(String, Value)> {
    let passwd: Vec<&str> = raw.get("passwd").split(':').collect();
    let field = |i: usize| passwd.get(i).copied().unwrap_or("").to_string();
    let num = |k: &str| raw.get(k).trim().parse::<i64>().unwrap_or(-1);
    vec![
        ("user_id".into(), Value::from(raw.get("user_id"))),
        ("user_uid".into(), Value::from(num("user_uid"))),
        ("user_gid".into(), Value::from(num("user_gid"))),
        ("user_gecos".into(), Value::from(field(4))),
        ("user_dir".into(), Value::from(field(5))),
        ("user_shell".into(), Value::from(field(6))),
        ("effective_user_id".into(), Value::from(num("user_uid"))),
        (
            "effective_group_id".into(),
            Value::from(num("effective_gid")),
        ),
        ("real_user_id".into(), Value::from(num("user_uid"))),
        ("real_group_id".into(), Value::from(num("user_gid"))),
    ]
}

fn env(raw: &RawFacts) -> Value {
    let mut m: IndexMap<String, String> = IndexMap::new();
    let mut last: Option<String> = None;
    for line in raw.get("env").lines() {
        match line.split_once('=') {
            Some((k, v))
                if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                m.insert(k.to_string(), v.to_string());
                last = Some(k.to_string());
            }
            _ => {
                // A value with a newline continues on the next line.
                if let Some(entry) = last.as_ref().and_then(|k| m.get_mut(k)) {
                    entry.push('\n');
                    entry.push_str(line);
                }
            }
        }
    }
    m.sort_keys();
    crate::value::map(m)
}

fn network(raw: &RawFacts) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let route = raw.get("route4");
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
        let addr_line = raw
            .get("addr4")
            .lines()
            .find(|l| l.contains(&format!("inet {src}/")))
            .unwrap_or("");
        let cidr = word_after(addr_line, "inet");
        let prefix: u32 = cidr
            .split('/')
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or(32);
        let link = raw.get("link4");
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
    for line in raw.get("alladdr").lines() {
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

    #[test]
    fn parses_debian_release() {
        let os = base64::engine::general_purpose::STANDARD
            .encode("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nID=debian\n");
        let f = parse(&format!(
            "os_release:b64={os}\ndebian_version=12.11\nnodename=web1.example.com\n"
        ));
        assert_eq!(f["distribution"], Value::from("Debian"));
        assert_eq!(f["distribution_version"], Value::from("12.11"));
        assert_eq!(f["distribution_major_version"], Value::from("12"));
        assert_eq!(f["distribution_release"], Value::from("bookworm"));
        assert_eq!(f["os_family"], Value::from("Debian"));
        assert_eq!(f["hostname"], Value::from("web1"));
    }
}
