//! Test harness for the lab (tests/lab/): real Debian 12 hosts with systemd as PID 1, booted by
//! systemd-nspawn in network namespaces that the lab scripts create.
//!
//! The lab is one per machine (fixed names labbr0, lab-hN), so all tests that need it live in one
//! test binary (`tests/lab_ssh/`, `harness = false`): its `main` boots the lab once with
//! [`Lab::up`] and holds a [`LabGuard`] whose `Drop` runs `tests/lab/down.sh`; tests run as
//! tasks, so a failing or panicking test is reported and the guard still tears down. SIGINT and
//! SIGTERM also tear down (see [`teardown_on_signals`]), and tests/run-all.sh runs down.sh on
//! exit as a last safety net. The guard holds an flock on `$LAB_DIR/.lock`, so test processes of
//! several worktrees on one machine take turns instead of tearing down each other's lab.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// One running lab host.
#[derive(Clone, Debug)]
pub struct LabHost {
    /// Inventory name, `h1`...
    pub name: String,
    /// Address on the lab bridge, `10.231.0.11`...
    pub ip: String,
    /// Network namespace, `lab-h1`...
    pub netns: String,
}

/// What tests need to reach the lab.
#[derive(Clone, Debug)]
pub struct Lab {
    pub hosts: Vec<LabHost>,
    /// Client key accepted as root on every host.
    pub key: PathBuf,
    /// Strict known_hosts with every host's key (`h1,10.231.0.11 ssh-ed25519 ...`).
    pub known_hosts: PathBuf,
    /// Ansible INI inventory written by up.sh.
    pub inventory: PathBuf,
    /// `ssh -F` config with `Host h1` ... aliases.
    pub ssh_config: PathBuf,
    pub state: PathBuf,
}

impl Lab {
    pub fn host(&self, name: &str) -> &LabHost {
        self.hosts
            .iter()
            .find(|h| h.name == name)
            .unwrap_or_else(|| panic!("lab host {name} is not up"))
    }

    /// Boots hosts h1..hN (idempotent: running hosts are kept, stopped ones are started again).
    pub fn up(n: usize) -> Result<Lab, String> {
        run_script("up.sh", &[&n.to_string()])?;
        Lab::read(&state_dir())
    }

    /// Reads the state files that up.sh wrote.
    pub fn read(state: &Path) -> Result<Lab, String> {
        let tsv = std::fs::read_to_string(state.join("hosts.tsv"))
            .map_err(|e| format!("{}: {e}", state.join("hosts.tsv").display()))?;
        let hosts = tsv
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                if f.len() < 4 {
                    return Err(format!("bad hosts.tsv line {l:?}"));
                }
                Ok(LabHost {
                    name: f[0].to_string(),
                    ip: f[1].to_string(),
                    netns: f[3].to_string(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Lab {
            hosts,
            key: state.join("id_ed25519"),
            known_hosts: state.join("known_hosts"),
            inventory: state.join("inventory.ini"),
            ssh_config: state.join("ssh_config"),
            state: state.to_path_buf(),
        })
    }
}

impl Lab {
    /// A host's variables from the inventory up.sh wrote (`[lab]` host line and `[lab:vars]`),
    /// with INI quoting removed as Ansible does.
    pub fn host_vars(&self, name: &str) -> std::collections::HashMap<String, String> {
        let text = std::fs::read_to_string(&self.inventory).unwrap_or_default();
        let mut vars = std::collections::HashMap::new();
        let mut section = String::new();
        let unquote = |v: &str| {
            let v = v.trim();
            for q in ['\'', '"'] {
                if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
                    return v[1..v.len() - 1].to_string();
                }
            }
            v.to_string()
        };
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.starts_with('[') {
                section = line.trim_matches(['[', ']']).to_string();
            } else if section == "lab:vars" {
                if let Some((k, v)) = line.split_once('=') {
                    vars.entry(k.trim().to_string())
                        .or_insert_with(|| unquote(v));
                }
            } else if section == "lab" && line.split_whitespace().next() == Some(name) {
                for kv in line.split_whitespace().skip(1) {
                    if let Some((k, v)) = kv.split_once('=') {
                        // Host variables win over group variables.
                        vars.insert(k.to_string(), unquote(v));
                    }
                }
            }
        }
        vars
    }
}

/// Tears the lab down when dropped (also while unwinding from a panic).
pub struct LabGuard {
    pub lab: Lab,
    /// Machine-wide lock held while this process owns the lab (released after teardown, or by
    /// the kernel if the process dies).
    _lock: std::fs::File,
}

/// Takes the machine-wide lab lock (`$LAB_DIR/.lock`, flock), waiting for another test process
/// (another worktree's `cargo test`) that holds it.
fn lock_lab() -> Result<std::fs::File, String> {
    use std::os::fd::AsRawFd;
    let dir = state_dir()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/lab"));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(".lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    // SAFETY: flock on a file descriptor we own; no memory is shared with the call.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        eprintln!(
            "lab: another process uses the lab ({}); waiting",
            path.display()
        );
        // SAFETY: as above.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(format!(
                "flock {}: {}",
                path.display(),
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(f)
}

impl LabGuard {
    /// Takes the machine-wide lab lock, prepares the machine if needed and boots `n` hosts; on
    /// failure the lab is torn down.
    pub fn up(n: usize) -> Result<LabGuard, String> {
        let lock = lock_lab()?;
        ensure_host_ready()?;
        // A lab left by a process that died without its teardown: start from a clean state.
        if state_dir().join("hosts.tsv").exists() {
            down();
        }
        match Lab::up(n) {
            Ok(lab) => Ok(LabGuard { lab, _lock: lock }),
            Err(e) => {
                down();
                Err(e)
            }
        }
    }
}

impl Drop for LabGuard {
    fn drop(&mut self) {
        down();
    }
}

/// Serialises teardown: the signal handler and the main thread may both call [`down`].
static DOWN: Mutex<()> = Mutex::new(());
/// The lab script running now (up.sh, ...), so a signal can stop it before tearing down.
static RUNNING: Mutex<Option<u32>> = Mutex::new(None);

/// Stops every lab host and removes the per-host state (the base stays).
pub fn down() {
    let _g = DOWN.lock().unwrap_or_else(|e| e.into_inner());
    if let Err(e) = run_script("down.sh", &[]) {
        eprintln!("lab: down.sh failed: {e}");
    }
}

/// Runs down.sh and exits when the test process gets SIGINT or SIGTERM.
pub fn teardown_on_signals(rt: &tokio::runtime::Runtime) {
    rt.spawn(async {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return;
        };
        tokio::select! {
            _ = int.recv() => {},
            _ = term.recv() => {},
        }
        eprintln!("lab: signal received, tearing the lab down");
        let running = *RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pid) = running {
            // A lab script we started (up.sh) is still running: stop it first, by its PID.
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
        down();
        std::process::exit(130);
    });
}

/// The lab scripts, in this repository.
pub fn lab_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/lab")
}

/// `$LAB_DIR/state` as the scripts compute it.
pub fn state_dir() -> PathBuf {
    let lab = std::env::var("LAB_DIR").unwrap_or_else(|_| "/var/tmp/lab".into());
    std::env::var("LAB_STATE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(lab).join("state"))
}

/// `$LAB_REPO` (the lab's apt repo, served over http to the hosts) as the scripts compute it.
pub fn repo_dir() -> PathBuf {
    let lab = std::env::var("LAB_DIR").unwrap_or_else(|_| "/var/tmp/lab".into());
    std::env::var("LAB_REPO")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(lab).join("repo"))
}

/// The repo's URL as the lab hosts see it: `http://<bridge address>:$LAB_REPO_PORT`.
pub fn repo_url(lab: &Lab) -> String {
    let ip = lab
        .hosts
        .first()
        .map(|h| h.ip.as_str())
        .unwrap_or("10.231.0.11");
    let net = ip.rsplit_once('.').map(|(n, _)| n).unwrap_or("10.231.0");
    let port = std::env::var("LAB_REPO_PORT").unwrap_or_else(|_| "8080".into());
    format!("http://{net}.1:{port}")
}

fn base_dir() -> PathBuf {
    let lab = std::env::var("LAB_DIR").unwrap_or_else(|_| "/var/tmp/lab".into());
    std::env::var("LAB_BASE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(lab).join("base"))
}

fn run_script(name: &str, args: &[&str]) -> Result<(), String> {
    let path = lab_dir().join(name);
    let mut child = Command::new("bash")
        .arg(&path)
        .args(args)
        .stdin(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", path.display()))?;
    if name != "down.sh" {
        *RUNNING.lock().unwrap_or_else(|e| e.into_inner()) = Some(child.id());
    }
    let status = child.wait();
    if name != "down.sh" {
        *RUNNING.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
    let status = status.map_err(|e| format!("waiting for {}: {e}", path.display()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} {} failed: {status}",
            path.display(),
            args.join(" ")
        ))
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd} >/dev/null")])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Why the lab cannot run here, if it cannot (checked before anything is installed).
pub fn unavailable_reason() -> Option<String> {
    if !is_root() {
        return Some("the lab needs root (systemd-nspawn, network namespaces)".into());
    }
    if !have("apt-get") && !have("systemd-nspawn") {
        return Some("systemd-nspawn is missing and apt-get is not available to install it".into());
    }
    None
}

/// Installs the host tools and builds the base image when they are missing (~1-2 min).
pub fn ensure_host_ready() -> Result<(), String> {
    if !(have("systemd-nspawn")
        && have("debootstrap")
        && have("apt-ftparchive")
        && have("ssh-keygen"))
    {
        run_script("setup-host.sh", &[])?;
    }
    if !base_dir().join("etc/lab-base-ok").exists() {
        run_script("build-base.sh", &[])?;
    }
    Ok(())
}

/// True when running in CI (`CI=true`), where a lab that cannot run is a failure, not a skip.
pub fn in_ci() -> bool {
    matches!(
        std::env::var("CI").as_deref(),
        Ok("true") | Ok("1") | Ok("yes")
    )
}

/// Runs a command on the machine (not in the lab) and returns stdout; panics on failure.
pub fn sh(script: &str) -> String {
    let out = Command::new("sh")
        .args(["-c", script])
        .output()
        .unwrap_or_else(|e| panic!("sh {script}: {e}"));
    assert!(
        out.status.success(),
        "sh {script}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
