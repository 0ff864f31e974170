//! Test harness for the lab (tests/lab/): real Debian 12 hosts with systemd as PID 1, booted by
//! systemd-nspawn in network namespaces that the lab scripts create.
//!
//! The lab is one per machine (fixed names labbr0, lab-hN), so all tests that need it live in one
//! test binary (`tests/lab_ssh.rs`, `harness = false`): its `main` boots the lab once with
//! [`Lab::up`] and holds a [`LabGuard`] whose `Drop` runs `tests/lab/down.sh`; tests run as
//! tasks, so a failing or panicking test is reported and the guard still tears down. SIGINT and
//! SIGTERM also tear down (see [`teardown_on_signals`]), and tests/run-all.sh runs down.sh on
//! exit as a last safety net.

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

/// Tears the lab down when dropped (also while unwinding from a panic).
pub struct LabGuard {
    pub lab: Lab,
}

impl LabGuard {
    /// Prepares the machine if needed and boots `n` hosts; on failure the lab is torn down.
    pub fn up(n: usize) -> Result<LabGuard, String> {
        ensure_host_ready()?;
        match Lab::up(n) {
            Ok(lab) => Ok(LabGuard { lab }),
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
