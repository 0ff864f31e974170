//! System modules against real lab hosts (Debian 12, systemd, sshd, the lab's apt repo with
//! `lab-hello` 1.0 and 1.1), over rig's SshConnection.
//! Each module: first run changed and the host is in the asked state; second run ok and
//! nothing moved; check mode predicts the change and changes nothing; diff where Ansible has one.
//! cron is not in the base image: its .debs are fetched into the lab repo on first use
//! (`install_cron`), and a host that cannot get it fails the test.
//! Test names are `modules_system::<fn>`, so `cargo test --test lab_ssh -- modules_system` runs them.

use crate::TestFn;
use crate::common::lab::Lab as LabEnv;
use serde_json::json;
use std::sync::Arc;

pub fn tests() -> Vec<(&'static str, TestFn)> {
    crate::lab_tests!["modules_system":
        apt_then_systemd_and_service,
        user_and_group,
        get_url_downloads_verifies_and_keeps_dest_on_mismatch,
        unarchive_extracts_once_and_refuses_corrupt_archives,
        apt_repository_adds_file_updates_cache_and_reverts_on_failure,
        pip_in_a_new_virtualenv,
        wait_for_files_and_ports,
        uri_requests_from_the_target,
        hostname_with_hostnamectl,
        cron_jobs_in_user_crontab_and_cron_file,
        sysctl_file_and_live_value,
    ]
}

// ---------- helpers ----------

use rig::connection::ssh::{SshConnection, SshTarget};
use rig::modules::{Args, ControllerFiles, Module, ModuleContext, ModuleError, ModuleResult};
use std::path::{Path, PathBuf};

struct Lab {
    pub conn: SshConnection,
    pub host: String,
    pub files: DirFiles,
}

/// Controller files from one directory (the role/play search path is the engine's job).
struct DirFiles(pub PathBuf);

impl ControllerFiles for DirFiles {
    fn find(&self, _kind: &str, name: &str) -> Option<PathBuf> {
        let p = if Path::new(name).is_absolute() {
            PathBuf::from(name)
        } else {
            self.0.join(name)
        };
        p.exists().then_some(p)
    }
    fn render(&self, path: &Path) -> Result<String, String> {
        std::fs::read_to_string(path).map_err(|e| e.to_string())
    }
}

/// A connection to lab host `host` (rig's SshConnection, with the lab inventory's settings).
async fn sys(env: &LabEnv, host: &str) -> Lab {
    let vars = env.host_vars(host);
    let mut t = SshTarget::from_vars(host, "sudo", |k| vars.get(k).cloned())
        .unwrap_or_else(|e| panic!("inventory vars of {host}: {e}"));
    t.connect_timeout = std::time::Duration::from_secs(10);
    let conn = SshConnection::connect(t)
        .await
        .unwrap_or_else(|e| panic!("connect {host}: {e}"));
    Lab {
        conn,
        host: host.to_string(),
        files: DirFiles(std::env::temp_dir()),
    }
}

/// Arguments from a JSON object.
fn args(v: serde_json::Value) -> Args {
    match v {
        serde_json::Value::Object(m) => m
            .into_iter()
            .map(|(k, v)| (k, minijinja::Value::from(minijinja::value::Serde(v))))
            .collect(),
        _ => panic!("args must be an object"),
    }
}

impl Lab {
    async fn run(
        &self,
        m: &Arc<dyn Module>,
        a: serde_json::Value,
        check: bool,
        diff: bool,
    ) -> Result<ModuleResult, ModuleError> {
        let ctx = ModuleContext {
            conn: &self.conn,
            host: &self.host,
            check_mode: check,
            diff_mode: diff,
            become_: None,
            files: &self.files,
        };
        m.run(&args(a), &ctx).await
    }

    /// Round trips made so far on this host's connection.
    fn trips(&self) -> u64 {
        use rig::connection::Connection;
        self.conn.round_trips()
    }

    /// Runs `m` (not in check mode, no diff) and returns the result with the round trips it took.
    async fn run_counted(&self, m: &Arc<dyn Module>, a: serde_json::Value) -> (ModuleResult, u64) {
        let before = self.trips();
        let r = self.run(m, a, false, false).await.expect("module ran");
        (r, self.trips() - before)
    }

    /// Runs a shell command on the host (for setup and for checking the outcome).
    async fn sh(&self, script: &str) -> String {
        use rig::connection::{Command, Connection};
        let out = self
            .conn
            .run(&Command::new(script))
            .await
            .expect("lab host reachable");
        out.stdout_str()
    }
}

fn module(name: &str) -> Arc<dyn Module> {
    rig::modules::system::register_system_modules()
        .into_iter()
        .find(|m| m.name() == name)
        .expect("module registered")
}

fn field(r: &ModuleResult, k: &str) -> String {
    r.data.get(k).map(|v| v.to_string()).unwrap_or_default()
}

fn failure(r: Result<ModuleResult, ModuleError>) -> String {
    match r {
        Ok(r) => panic!(
            "expected a failure, got changed={} data={:?}",
            r.changed, r.data
        ),
        Err(e) => e.to_string(),
    }
}

/// The directory the lab's http server serves (the lab repo, `$LAB_REPO`) and its URL as the
/// hosts see it (`http://<bridge address>:$LAB_REPO_PORT`).
fn http_fixture(env: &LabEnv) -> (PathBuf, String) {
    (
        crate::common::lab::repo_dir(),
        crate::common::lab::repo_url(env),
    )
}

/// Writes the download fixtures under `dir/rigtest/`: a tarball (`payload.tar.gz`: `top/a.txt`,
/// `top/sub/b.txt`), a corrupt one, checksum files in the formats get_url reads, and a JSON
/// document (`data.json`, for uri).
/// Returns the tarball's sha256.
fn write_fixtures(dir: &Path) -> String {
    use sha2::Digest;
    let d = dir.join("rigtest");
    let src = d.join("src");
    std::fs::create_dir_all(src.join("top/sub")).unwrap();
    std::fs::write(src.join("top/a.txt"), "alpha\n").unwrap();
    std::fs::write(src.join("top/sub/b.txt"), "beta\n").unwrap();
    let st = std::process::Command::new("tar")
        .args([
            "--mtime=2024-01-01 00:00:00",
            "--owner=0",
            "--group=0",
            "--sort=name",
            "-czf",
        ])
        .arg(d.join("payload.tar.gz"))
        .arg("-C")
        .arg(&src)
        .arg("top")
        .status()
        .unwrap();
    assert!(st.success());
    let bytes = std::fs::read(d.join("payload.tar.gz")).unwrap();
    let hex: String = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    std::fs::write(d.join("payload.tar.gz.sha256"), format!("{hex}\n")).unwrap();
    std::fs::write(
        d.join("SHA256SUMS"),
        format!(
            "{}  other.tar.gz\n{hex} *./payload.tar.gz\n",
            "0".repeat(64)
        ),
    )
    .unwrap();
    let mut corrupt = bytes.clone();
    corrupt.truncate(bytes.len() / 2);
    corrupt.extend_from_slice(b"garbage");
    std::fs::write(d.join("corrupt.tar.gz"), corrupt).unwrap();
    std::fs::write(d.join("data.json"), "{\"name\": \"rig\", \"n\": [1, 2]}\n").unwrap();
    hex
}

/// Builds `dir/rigtest/wheels/rigdemo-1.0-py3-none-any.whl` with the controller's python3
/// (a test fixture only; the targets need no Python for rig itself). `false` if python3 is
/// missing here.
fn write_wheel(dir: &Path) -> bool {
    let wheels = dir.join("rigtest/wheels");
    std::fs::create_dir_all(&wheels).unwrap();
    let script = r#"
import base64, hashlib, sys, zipfile
out = sys.argv[1] + "/rigdemo-1.0-py3-none-any.whl"
files = {
    "rigdemo/__init__.py": "VERSION = '1.0'\n",
    "rigdemo-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: rigdemo\nVersion: 1.0\n",
    "rigdemo-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: rig-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
record = []
with zipfile.ZipFile(out, "w") as z:
    for name, text in files.items():
        data = text.encode()
        z.writestr(name, data)
        h = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={h},{len(data)}")
    record.append("rigdemo-1.0.dist-info/RECORD,,")
    z.writestr("rigdemo-1.0.dist-info/RECORD", "\n".join(record) + "\n")
"#;
    std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&wheels)
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Debian packages the base image lacks for cron (the rest of its dependencies are there).
const CRON_DEBS: [&str; 2] = ["cron", "cron-daemon-common"];

/// Makes `crontab` available on the lab host: the cron .debs are downloaded on this controller
/// into the lab repo (once; as tests/lab_ssh/stack.rs does for python3-packaging), the repo is
/// re-indexed with tests/lab/repo.sh, and the host installs cron from it. Panics with the
/// reason when any step fails, so a missing cron is a failure, never a silent pass.
async fn install_cron(lab: &Lab) {
    if !lab.sh("command -v crontab").await.trim().is_empty() {
        return;
    }
    let repo = crate::common::lab::repo_dir();
    let have = |pkg: &str| {
        std::fs::read_dir(&repo)
            .map(|d| {
                d.flatten().any(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with(&format!("{pkg}_"))
                })
            })
            .unwrap_or(false)
    };
    let missing: Vec<&str> = CRON_DEBS.into_iter().filter(|p| !have(p)).collect();
    if !missing.is_empty() {
        let out = std::process::Command::new("apt-get")
            .args(["download", "-q"])
            .args(&missing)
            .current_dir(&repo)
            .output()
            .expect("run apt-get download");
        assert!(
            out.status.success(),
            "cron is not in the base image and `apt-get download {}` into {} failed: {}",
            missing.join(" "),
            repo.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new("bash")
        .arg(root.join("tests/lab/repo.sh"))
        .env("LAB_REPO", &repo)
        .output()
        .expect("run repo.sh");
    assert!(
        out.status.success(),
        "repo.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let o = lab
        .sh("apt-get -o DPkg::Lock::Timeout=60 update -qq 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=60 install -y -qq --no-install-recommends cron 2>&1; echo rc=$?")
        .await;
    assert!(
        o.trim_end().ends_with("rc=0"),
        "installing cron on {}: {o}",
        lab.host
    );
    assert!(
        !lab.sh("command -v crontab").await.trim().is_empty(),
        "cron installed on {} but no crontab command",
        lab.host
    );
}

// ---------- tests ----------

async fn apt_then_systemd_and_service(env: Arc<LabEnv>) {
    let lab = sys(&env, "h1").await;
    let apt = module("apt");
    lab.sh("systemctl disable --now lab-hello >/dev/null 2>&1; systemctl unmask lab-hello >/dev/null 2>&1; DEBIAN_FRONTEND=noninteractive apt-get purge -y -q lab-hello >/dev/null 2>&1; apt-get update -qq >/dev/null 2>&1; true").await;
    let version = || async {
        lab.sh("dpkg-query -W -f='${db:Status-Abbrev}${Version}' lab-hello 2>/dev/null")
            .await
    };
    assert_eq!(version().await.trim_start_matches("un "), "");

    // check mode: predicts the install (with the apt-get summary as diff), installs nothing
    let r = lab
        .run(
            &apt,
            json!({"name": "lab-hello=1.0", "update_cache": true}),
            true,
            true,
        )
        .await
        .unwrap();
    assert!(r.changed);
    let diff = r.data["diff"].get_attr("prepared").unwrap().to_string();
    assert!(diff.contains("lab-hello"), "diff: {diff}");
    assert_eq!(version().await.trim_start_matches("un "), "");

    // first run installs 1.0, second run is ok
    let r = lab
        .run(
            &apt,
            json!({"name": ["lab-hello=1.0*"], "update_cache": true}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed, "{r:?}");
    assert!(r.data.contains_key("cache_update_time"));
    assert_eq!(version().await, "ii 1.0");
    let r = lab
        .run(
            &apt,
            json!({"name": "lab-hello", "cache_valid_time": 3600}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(!r.changed, "{r:?}");
    assert!(!r.data["cache_updated"].is_true());
    assert_eq!(version().await, "ii 1.0");
    // a package apt counts as automatically installed is marked manual by `state=present`
    // (Ansible runs `apt-mark manual` every time; rig only when extended_states says auto)
    let manual = || async {
        lab.sh("apt-mark showmanual lab-hello")
            .await
            .trim()
            .to_string()
    };
    assert_eq!(manual().await, "lab-hello");
    lab.sh("apt-mark auto lab-hello >/dev/null").await;
    assert_eq!(manual().await, "");
    let r = lab
        .run(&apt, json!({"name": "lab-hello"}), false, false)
        .await
        .unwrap();
    assert!(!r.changed, "{r:?}");
    assert_eq!(manual().await, "lab-hello");

    // latest: check mode predicts, the run upgrades, the rerun is ok
    let r = lab
        .run(
            &apt,
            json!({"name": "lab-hello", "state": "latest"}),
            true,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed);
    assert_eq!(version().await, "ii 1.0");
    let r = lab
        .run(
            &apt,
            json!({"name": "lab-hello", "state": "latest"}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed);
    assert_eq!(version().await, "ii 1.1");
    let r = lab
        .run(
            &apt,
            json!({"name": "lab-hello", "state": "latest"}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(!r.changed);

    // unknown package: Ansible's message, also in check mode
    for check in [false, true] {
        let e = failure(
            lab.run(
                &apt,
                json!({"name": ["lab-hello", "no-such-package-x"]}),
                check,
                false,
            )
            .await,
        );
        assert_eq!(e, "No package matching 'no-such-package-x' is available");
    }

    // systemd: the package ships lab-hello.service, not enabled, not started
    let sd = module("systemd");
    let pid = || async {
        lab.sh("systemctl show -P MainPID lab-hello")
            .await
            .trim()
            .to_string()
    };
    let state = || async {
        lab.sh("echo $(systemctl is-active lab-hello) $(systemctl is-enabled lab-hello)")
            .await
            .trim()
            .to_string()
    };
    assert_eq!(state().await, "inactive disabled");
    let a = json!({"name": "lab-hello", "state": "started", "enabled": true});
    let r = lab.run(&sd, a.clone(), true, false).await.unwrap();
    assert!(r.changed);
    assert_eq!(state().await, "inactive disabled");
    let r = lab.run(&sd, a.clone(), false, false).await.unwrap();
    assert!(r.changed);
    assert!(r.data["enabled"].is_true());
    assert_eq!(field(&r, "state"), "started");
    assert_eq!(
        r.data["status"]
            .get_attr("ActiveState")
            .unwrap()
            .to_string(),
        "inactive"
    );
    assert_eq!(state().await, "active enabled");
    let p1 = pid().await;
    assert_ne!(p1, "0");
    let r = lab.run(&sd, a.clone(), false, false).await.unwrap();
    assert!(!r.changed);
    assert_eq!(
        r.data["status"].get_attr("MainPID").unwrap().to_string(),
        p1
    );
    assert_eq!(pid().await, p1);
    // restarted: always a change, new MainPID (check mode keeps the old one)
    let r = lab
        .run(
            &sd,
            json!({"name": "lab-hello", "state": "restarted"}),
            true,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed);
    assert_eq!(pid().await, p1);
    let r = lab
        .run(
            &sd,
            json!({"name": "lab-hello", "state": "restarted"}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed);
    let p2 = pid().await;
    assert_ne!(p2, p1);
    // unknown unit: Ansible's message, in check mode too
    for check in [false, true] {
        let e = failure(
            lab.run(
                &sd,
                json!({"name": "no-such-unit-x", "state": "started"}),
                check,
                false,
            )
            .await,
        );
        assert_eq!(
            e,
            "Could not find the requested service no-such-unit-x: host"
        );
    }
    // masked
    let r = lab
        .run(
            &sd,
            json!({"name": "lab-hello", "masked": true, "state": "stopped"}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed);
    assert_eq!(
        lab.sh("systemctl is-enabled lab-hello").await.trim(),
        "masked"
    );
    let r = lab
        .run(
            &sd,
            json!({"name": "lab-hello", "masked": true, "state": "stopped"}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(!r.changed);
    let r = lab
        .run(
            &sd,
            json!({"name": "lab-hello", "masked": false, "daemon_reload": true}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed);

    // service maps to systemd: ignored args are warned about
    let svc = module("service");
    let a = json!({"name": "lab-hello", "state": "started", "sleep": 1});
    let r = lab.run(&svc, a.clone(), false, false).await.unwrap();
    assert!(r.changed);
    assert!(
        field(&r, "warnings").contains("Ignoring \\\"sleep\\\"")
            || field(&r, "warnings").contains("Ignoring \"sleep\""),
        "{:?}",
        r.data
    );
    assert_eq!(
        lab.sh("systemctl is-active lab-hello").await.trim(),
        "active"
    );
    let r = lab.run(&svc, a, false, false).await.unwrap();
    assert!(!r.changed);
    let r = lab
        .run(
            &svc,
            json!({"name": "lab-hello", "state": "stopped", "enabled": false}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed);
    assert_eq!(state().await, "inactive disabled");

    // absent: check mode keeps it, the run removes it, the rerun is ok
    let r = lab
        .run(
            &apt,
            json!({"name": "lab-hello", "state": "absent"}),
            true,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed);
    assert_eq!(version().await, "ii 1.1");
    let r = lab
        .run(
            &apt,
            json!({"name": "lab-hello", "state": "absent", "purge": true}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed);
    assert_eq!(version().await.trim_start_matches("un "), "");
    let r = lab
        .run(
            &apt,
            json!({"name": "lab-hello", "state": "absent"}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(!r.changed);
}

async fn user_and_group(env: Arc<LabEnv>) {
    let lab = sys(&env, "h2").await;
    lab.sh("userdel -r rigtest >/dev/null 2>&1; groupdel rigtestg >/dev/null 2>&1; true")
        .await;
    let group = module("group");
    let user = module("user");
    let a = json!({"name": "rigtestg", "gid": 23451});
    let r = lab.run(&group, a.clone(), true, false).await.unwrap();
    assert!(r.changed);
    assert_eq!(lab.sh("getent group rigtestg").await, "");
    let r = lab.run(&group, a.clone(), false, false).await.unwrap();
    assert!(r.changed);
    assert_eq!(field(&r, "gid"), "23451");
    assert_eq!(
        lab.sh("getent group rigtestg").await.trim(),
        "rigtestg:x:23451:"
    );
    let r = lab.run(&group, a.clone(), false, false).await.unwrap();
    assert!(!r.changed);

    let hash = "$6$rigsalt$Q9Wq0cTj4o7lH3s1z8aUqfHn3xWf6yQ2eK0mG8wqg3o0o8rQyqz6z4m8XlWm4tH3m1b3y5f5bQ3s0vT2cYk4x.";
    let a = json!({"name": "rigtest", "groups": ["rigtestg", "sudo"], "shell": "/bin/bash",
                   "comment": "Rig Test", "password": hash, "uid": 2399});
    let r = lab.run(&user, a.clone(), true, false).await.unwrap();
    assert!(r.changed);
    assert_eq!(lab.sh("getent passwd rigtest").await, "");
    let r = lab.run(&user, a.clone(), false, false).await.unwrap();
    assert!(r.changed, "{r:?}");
    assert_eq!(field(&r, "uid"), "2399");
    assert_eq!(field(&r, "home"), "/home/rigtest");
    assert_eq!(field(&r, "password"), "NOT_LOGGING_PASSWORD");
    assert_eq!(
        lab.sh("getent passwd rigtest").await.trim(),
        "rigtest:x:2399:2399:Rig Test:/home/rigtest:/bin/bash"
    );
    assert_eq!(
        lab.sh("id -nG rigtest | tr ' ' '\\n' | sort | xargs")
            .await
            .trim(),
        "rigtest rigtestg sudo"
    );
    assert_eq!(
        lab.sh("getent shadow rigtest | cut -d: -f2").await.trim(),
        hash
    );
    assert_eq!(lab.sh("stat -c %U /home/rigtest").await.trim(), "rigtest");
    let r = lab.run(&user, a.clone(), false, false).await.unwrap();
    assert!(!r.changed, "{r:?}");
    // groups without append replaces; with append adds only
    let r = lab
        .run(
            &user,
            json!({"name": "rigtest", "groups": "rigtestg"}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed);
    assert_eq!(
        lab.sh("id -nG rigtest | tr ' ' '\\n' | sort | xargs")
            .await
            .trim(),
        "rigtest rigtestg"
    );
    let r = lab
        .run(
            &user,
            json!({"name": "rigtest", "groups": ["sudo"], "append": true}),
            true,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed);
    assert_eq!(
        lab.sh("id -nG rigtest | tr ' ' '\\n' | sort | xargs")
            .await
            .trim(),
        "rigtest rigtestg"
    );
    let r = lab
        .run(
            &user,
            json!({"name": "rigtest", "groups": ["sudo"], "append": true}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed);
    assert_eq!(
        lab.sh("id -nG rigtest | tr ' ' '\\n' | sort | xargs")
            .await
            .trim(),
        "rigtest rigtestg sudo"
    );
    let r = lab
        .run(
            &user,
            json!({"name": "rigtest", "groups": ["sudo"], "append": true}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(!r.changed);
    // a missing group: Ansible's message
    let e = failure(
        lab.run(
            &user,
            json!({"name": "rigtest", "group": "no-such-group"}),
            false,
            false,
        )
        .await,
    );
    assert_eq!(e, "Group no-such-group does not exist");
    // absent + remove
    let r = lab
        .run(
            &user,
            json!({"name": "rigtest", "state": "absent", "remove": true}),
            true,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed);
    assert_ne!(lab.sh("getent passwd rigtest").await, "");
    let r = lab
        .run(
            &user,
            json!({"name": "rigtest", "state": "absent", "remove": true}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed);
    assert_eq!(
        lab.sh("getent passwd rigtest; ls -d /home/rigtest 2>/dev/null")
            .await,
        ""
    );
    let r = lab
        .run(
            &user,
            json!({"name": "rigtest", "state": "absent"}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(!r.changed);
    let r = lab
        .run(
            &group,
            json!({"name": "rigtestg", "state": "absent"}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed);
    let r = lab
        .run(
            &group,
            json!({"name": "rigtestg", "state": "absent"}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(!r.changed);
}

async fn get_url_downloads_verifies_and_keeps_dest_on_mismatch(env: Arc<LabEnv>) {
    let lab = sys(&env, "h2").await;
    let (dir, base) = http_fixture(&env);
    let hex = write_fixtures(&dir);
    let url = format!("{base}/rigtest/payload.tar.gz");
    let gu = module("get_url");
    lab.sh("rm -rf /tmp/rig-gu; mkdir -p /tmp/rig-gu/dir").await;
    let dest = "/tmp/rig-gu/payload.tar.gz";
    let a = json!({"url": url, "dest": dest, "checksum": format!("sha256:{hex}"), "mode": "0640"});
    // check mode: a HEAD request, nothing written
    let r = lab.run(&gu, a.clone(), true, false).await.unwrap();
    assert!(r.changed);
    assert_eq!(lab.sh("ls -A /tmp/rig-gu").await.trim(), "dir");
    // first run downloads, verifies, sets the mode
    let r = lab.run(&gu, a.clone(), false, false).await.unwrap();
    assert!(r.changed, "{r:?}");
    assert_eq!(field(&r, "status_code"), "200");
    assert!(field(&r, "msg").starts_with("OK ("), "{r:?}");
    assert_eq!(field(&r, "mode"), "0640");
    let stamp = || async {
        lab.sh(&format!(
            "sha256sum < {dest} | cut -c1-64; stat -c '%a %Y' {dest}"
        ))
        .await
    };
    let before = stamp().await;
    assert!(before.starts_with(&hex), "{before}");
    assert!(before.contains("\n640 "), "{before}");
    // second run: the digest matches, nothing downloaded
    let r = lab.run(&gu, a.clone(), false, false).await.unwrap();
    assert!(!r.changed);
    assert_eq!(field(&r, "msg"), "file already exists");
    // ALGO:URL with a one-token file and with a GNU file using '*./' prefixes
    for ck in ["payload.tar.gz.sha256", "SHA256SUMS"] {
        let r = lab
            .run(&gu, json!({"url": url, "dest": dest, "checksum": format!("sha256:{base}/rigtest/{ck}")}), false, false)
            .await
            .unwrap();
        assert!(!r.changed, "{ck}");
        assert_eq!(field(&r, "msg"), "file already exists");
    }
    // without checksum: If-Modified-Since, 304, not changed
    let r = lab
        .run(&gu, json!({"url": url, "dest": dest}), false, false)
        .await
        .unwrap();
    assert!(!r.changed, "{r:?}");
    assert_eq!(stamp().await, before);
    // a wrong checksum: fails naming both digests, dest untouched, no temp file left
    let wrong = "0".repeat(64);
    let e = failure(
        lab.run(
            &gu,
            json!({"url": url, "dest": dest, "checksum": format!("sha256:{wrong}")}),
            false,
            false,
        )
        .await,
    );
    assert!(
        e.contains(&format!("did not match {wrong}; it was {hex}.")),
        "{e}"
    );
    assert_eq!(stamp().await, before);
    assert_eq!(
        lab.sh("ls -A /tmp/rig-gu | xargs").await.trim(),
        "dir payload.tar.gz"
    );
    // a bad checksum spec and a missing checksum entry
    let e = failure(
        lab.run(
            &gu,
            json!({"url": url, "dest": dest, "checksum": "nocolon"}),
            false,
            false,
        )
        .await,
    );
    assert_eq!(
        e,
        "The checksum parameter has to be in format <algorithm>:<checksum>"
    );
    // dest is a directory: the URL's file name, always fetched, replaced only if different
    let a = json!({"url": url, "dest": "/tmp/rig-gu/dir"});
    let r = lab.run(&gu, a.clone(), false, false).await.unwrap();
    assert!(r.changed);
    assert_eq!(field(&r, "dest"), "/tmp/rig-gu/dir/payload.tar.gz");
    let r = lab.run(&gu, a.clone(), false, false).await.unwrap();
    assert!(!r.changed);
    // a 404
    let e = failure(
        lab.run(
            &gu,
            json!({"url": format!("{base}/rigtest/nope"), "dest": "/tmp/rig-gu/x"}),
            false,
            false,
        )
        .await,
    );
    assert_eq!(e, "Request failed");
    let r = lab
        .run(&gu, json!({"url": url, "dest": dest}), false, false)
        .await
        .unwrap();
    assert_eq!(field(&r, "msg"), "HTTP Error 304: Not Modified");
    assert_eq!(field(&r, "mode"), "0640");
}

async fn unarchive_extracts_once_and_refuses_corrupt_archives(env: Arc<LabEnv>) {
    let mut lab = sys(&env, "h1").await;
    let (dir, base) = http_fixture(&env);
    write_fixtures(&dir);
    lab.files = DirFiles(dir.join("rigtest"));
    let ua = module("unarchive");
    lab.sh("rm -rf /tmp/rig-ua /tmp/rig-ua2; mkdir -p /tmp/rig-ua /tmp/rig-ua2")
        .await;
    let a = json!({"src": "payload.tar.gz", "dest": "/tmp/rig-ua", "list_files": true});
    // check mode: Ansible's tar handlers skip
    let r = lab.run(&ua, a.clone(), true, false).await.unwrap();
    assert!(r.skipped);
    assert_eq!(lab.sh("ls -A /tmp/rig-ua").await, "");
    // first run extracts
    let r = lab.run(&ua, a.clone(), false, false).await.unwrap();
    assert!(r.changed, "{r:?}");
    assert_eq!(field(&r, "handler"), "TgzArchive");
    assert!(field(&r, "files").contains("top/sub/b.txt"), "{r:?}");
    let snap = || async {
        lab.sh("cd /tmp/rig-ua && find . -printf '%p %s %T@ %m\\n' | sort; cat top/a.txt")
            .await
    };
    let s1 = snap().await;
    assert!(s1.contains("./top/sub/b.txt 5 1704067200"), "{s1}");
    assert!(s1.ends_with("alpha\n"));
    // second run: tar --diff finds nothing, nothing touched
    let r = lab.run(&ua, a.clone(), false, false).await.unwrap();
    assert!(!r.changed, "{r:?}");
    assert_eq!(snap().await, s1);
    // a changed member is restored
    lab.sh("echo changed > /tmp/rig-ua/top/a.txt").await;
    let r = lab.run(&ua, a.clone(), false, false).await.unwrap();
    assert!(r.changed);
    assert_eq!(lab.sh("cat /tmp/rig-ua/top/a.txt").await, "alpha\n");
    // mode on every member and the top folder
    let r = lab
        .run(
            &ua,
            json!({"src": "payload.tar.gz", "dest": "/tmp/rig-ua", "mode": "u+rwX,go-rwx"}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed);
    assert_eq!(
        lab.sh("stat -c %a /tmp/rig-ua/top /tmp/rig-ua/top/a.txt | xargs")
            .await
            .trim(),
        "700 600"
    );
    let r = lab
        .run(
            &ua,
            json!({"src": "payload.tar.gz", "dest": "/tmp/rig-ua", "mode": "u+rwX,go-rwx"}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(!r.changed, "{r:?}");
    // remote_src, creates, exclude
    lab.sh(&format!(
        "curl -fsS -o /tmp/rig-ua-src.tgz {base}/rigtest/payload.tar.gz"
    ))
    .await;
    let a = json!({"src": "/tmp/rig-ua-src.tgz", "dest": "/tmp/rig-ua2", "remote_src": true, "exclude": ["top/sub/*"]});
    let r = lab.run(&ua, a.clone(), false, false).await.unwrap();
    assert!(r.changed);
    assert_eq!(
        lab.sh("cd /tmp/rig-ua2 && find . -type f | sort | xargs")
            .await
            .trim(),
        "./top/a.txt"
    );
    let r = lab.run(&ua, a.clone(), false, false).await.unwrap();
    assert!(!r.changed, "{r:?}");
    let r = lab.run(&ua, json!({"src": "/tmp/nope.tgz", "dest": "/tmp/rig-ua2", "remote_src": true, "creates": "/tmp/rig-ua2/top"}), false, false).await.unwrap();
    assert!(r.skipped);
    // failures: corrupt archive (dest untouched), missing dest
    lab.sh("rm -rf /tmp/rig-ua3; mkdir /tmp/rig-ua3").await;
    let e = failure(
        lab.run(
            &ua,
            json!({"src": "corrupt.tar.gz", "dest": "/tmp/rig-ua3"}),
            false,
            false,
        )
        .await,
    );
    assert!(
        e.starts_with("Failed to find handler for \"/tmp/.rig-unarchive."),
        "{e}"
    );
    assert!(e.contains("could not handle archive"), "{e}");
    assert_eq!(
        lab.sh("ls -A /tmp/rig-ua3; ls -d /tmp/.rig-unarchive.* 2>/dev/null")
            .await,
        ""
    );
    let e = failure(
        lab.run(
            &ua,
            json!({"src": "payload.tar.gz", "dest": "/tmp/rig-nodir"}),
            false,
            false,
        )
        .await,
    );
    assert_eq!(e, "dest '/tmp/rig-nodir' must be an existing dir");
}

async fn apt_repository_adds_file_updates_cache_and_reverts_on_failure(env: Arc<LabEnv>) {
    let lab = sys(&env, "h2").await;
    let ar = module("apt_repository");
    // The lab repo under another spelling (`/./`), so it is not the line lab.list already has;
    // Ansible names the file after host and port (checked with ansible's _suggest_filename).
    let (_, url) = http_fixture(&env);
    let host_port = url.trim_start_matches("http://");
    let file = format!(
        "/etc/apt/sources.list.d/{}.list",
        host_port.replace(['.', ':'], "_")
    );
    let file = file.as_str();
    lab.sh(&format!(
        "rm -f {file} /etc/apt/sources.list.d/rig-bad.list"
    ))
    .await;
    let sources_before = lab.sh("ls /etc/apt/sources.list.d/").await;
    let repo = format!("deb [trusted=yes] {url}/./ ./");
    let a = json!({"repo": repo});
    let r = lab.run(&ar, a.clone(), true, true).await.unwrap();
    assert!(r.changed);
    assert_eq!(r.diffs.len(), 1);
    assert_eq!(r.diffs[0].before_header, "/dev/null");
    assert_eq!(r.diffs[0].after_header, file);
    assert_eq!(r.diffs[0].after, format!("{repo}\n"));
    assert_eq!(lab.sh(&format!("ls {file} 2>/dev/null")).await, "");
    let r = lab.run(&ar, a.clone(), false, false).await.unwrap();
    assert!(r.changed);
    assert_eq!(field(&r, "sources_added"), format!("['{file}']"));
    assert_eq!(
        lab.sh(&format!("stat -c %a {file}; cat {file}")).await,
        format!("644\n{repo}\n")
    );
    let mtime = lab.sh(&format!("stat -c %Y {file}")).await;
    let r = lab.run(&ar, a.clone(), false, false).await.unwrap();
    assert!(!r.changed);
    assert_eq!(lab.sh(&format!("stat -c %Y {file}")).await, mtime);
    // absent removes the emptied file
    let a = json!({"repo": repo, "state": "absent", "update_cache": false});
    let r = lab.run(&ar, a.clone(), false, true).await.unwrap();
    assert!(r.changed);
    assert_eq!(r.diffs[0].after_header, "/dev/null");
    assert_eq!(lab.sh(&format!("ls {file} 2>/dev/null")).await, "");
    let r = lab.run(&ar, a, false, false).await.unwrap();
    assert!(!r.changed);
    // an unreachable repository: the update fails and the file goes away again
    let bad = json!({"repo": "deb [trusted=yes] http://127.0.0.1:9/ ./", "filename": "rig-bad", "update_cache_retries": 1});
    let e = failure(lab.run(&ar, bad, false, false).await);
    assert!(
        e.starts_with("Failed to update apt cache after 1 retries"),
        "{e}"
    );
    assert_eq!(lab.sh("ls /etc/apt/sources.list.d/").await, sources_before);
}

async fn pip_in_a_new_virtualenv(env: Arc<LabEnv>) {
    let lab = sys(&env, "h2").await;
    let (dir, base) = http_fixture(&env);
    assert!(
        write_wheel(&dir),
        "python3 on the controller builds the test wheel"
    );
    let pip = module("pip");
    lab.sh("rm -rf /tmp/rig-venv").await;
    let host = base
        .split("://")
        .nth(1)
        .unwrap_or("")
        .split([':', '/'])
        .next()
        .unwrap_or("");
    let links = format!("--no-index --trusted-host {host} --find-links {base}/rigtest/wheels/");
    let a = json!({"name": "rigdemo", "virtualenv": "/tmp/rig-venv", "virtualenv_command": "python3 -m venv", "extra_args": links});
    // check mode: the virtualenv is missing, so changed, and nothing is created
    let r = lab.run(&pip, a.clone(), true, false).await.unwrap();
    assert!(r.changed);
    assert_eq!(lab.sh("ls -d /tmp/rig-venv 2>/dev/null").await, "");
    let r = lab.run(&pip, a.clone(), false, false).await.unwrap();
    assert!(r.changed, "{r:?}");
    assert!(
        field(&r, "stdout").contains("Successfully installed rigdemo-1.0"),
        "{r:?}"
    );
    let freeze = || async {
        lab.sh("/tmp/rig-venv/bin/pip list --format=freeze 2>/dev/null | grep -i rigdemo")
            .await
    };
    assert_eq!(freeze().await.trim(), "rigdemo==1.0");
    // the rerun: everything is installed, so rig reads site-packages and starts no pip
    let before = lab.trips();
    let r = lab.run(&pip, a.clone(), false, false).await.unwrap();
    assert!(!r.changed, "{r:?}");
    assert_eq!(lab.trips() - before, 1, "a satisfied rerun is one probe");
    assert_eq!(field(&r, "stdout"), "", "pip did not run: {r:?}");
    // an option that could change what pip does (-U) makes pip decide, as in Ansible
    let mut upgrade = a.clone();
    upgrade["extra_args"] = json!(format!("{links} -U"));
    let r = lab.run(&pip, upgrade, false, false).await.unwrap();
    assert!(!r.changed, "{r:?}");
    assert!(
        field(&r, "stdout").contains("Requirement already satisfied: rigdemo"),
        "{r:?}"
    );
    // without extra_args, check mode compares the freeze list with the specs
    lab.sh(&format!("printf '[global]\\nno-index = true\\ntrusted-host = {host}\\nfind-links = {base}/rigtest/wheels/\\n' > /tmp/rig-venv/pip.conf")).await;
    let plain = json!({"name": ["rigdemo>=1.0"], "virtualenv": "/tmp/rig-venv"});
    let r = lab.run(&pip, plain.clone(), true, false).await.unwrap();
    assert!(!r.changed, "{r:?}");
    let r = lab
        .run(
            &pip,
            json!({"name": "rigdemo", "version": "2.0", "virtualenv": "/tmp/rig-venv"}),
            true,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed);
    // absent: check mode predicts, the run uninstalls, the rerun is ok
    let gone = json!({"name": "rigdemo", "virtualenv": "/tmp/rig-venv", "state": "absent"});
    let r = lab.run(&pip, gone.clone(), true, false).await.unwrap();
    assert!(r.changed);
    assert_eq!(freeze().await.trim(), "rigdemo==1.0");
    let r = lab.run(&pip, gone.clone(), false, false).await.unwrap();
    assert!(r.changed, "{r:?}");
    assert_eq!(freeze().await.trim(), "");
    let r = lab.run(&pip, gone, false, false).await.unwrap();
    assert!(!r.changed, "{r:?}");
    // a missing package: pip's failure is reported
    let e = failure(
        lab.run(
            &pip,
            json!({"name": "no-such-dist-x", "virtualenv": "/tmp/rig-venv"}),
            false,
            false,
        )
        .await,
    );
    assert!(
        e.contains("No matching distribution found for no-such-dist-x"),
        "{e}"
    );
}

async fn wait_for_files_and_ports(env: Arc<LabEnv>) {
    let lab = sys(&env, "h1").await;
    let (_, base) = http_fixture(&env);
    let wf = module("wait_for");
    lab.sh("rm -f /tmp/rig-wf; setsid sh -c 'sleep 2; echo \"port=8082 up\" > /tmp/rig-wf' >/dev/null 2>&1 < /dev/null &").await;
    let r = lab
        .run(&wf, json!({"path": "/tmp/rig-wf", "search_regex": "port=(?P<port>\\d+) (\\w+)", "timeout": 30}), false, false)
        .await
        .unwrap();
    assert!(!r.changed);
    assert_eq!(
        r.data["match_groupdict"]
            .get_attr("port")
            .unwrap()
            .to_string(),
        "8082"
    );
    assert_eq!(field(&r, "match_groups"), "['8082', 'up']");
    assert_eq!(field(&r, "state"), "file");
    assert!(field(&r, "elapsed").parse::<i64>().unwrap() >= 1, "{r:?}");
    let gw = base
        .split("://")
        .nth(1)
        .unwrap_or("")
        .split('/')
        .next()
        .unwrap_or("");
    let (h, p) = gw.split_once(':').unwrap_or((gw, "80"));
    let r = lab
        .run(
            &wf,
            json!({"host": h, "port": p.parse::<i64>().unwrap(), "timeout": 10}),
            false,
            false,
        )
        .await
        .unwrap();
    assert_eq!(field(&r, "state"), "started");
    let r = lab
        .run(
            &wf,
            json!({"port": 9, "state": "stopped", "timeout": 10}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(!r.changed);
    let e = failure(
        lab.run(&wf, json!({"port": 9, "timeout": 2}), false, false)
            .await,
    );
    assert_eq!(e, "Timeout when waiting for 127.0.0.1:9");
    let e = failure(
        lab.run(
            &wf,
            json!({"path": "/tmp/rig-wf", "state": "absent", "timeout": 2, "msg": "still there"}),
            false,
            false,
        )
        .await,
    );
    assert_eq!(e, "still there");
}

async fn uri_requests_from_the_target(env: Arc<LabEnv>) {
    let lab = sys(&env, "h1").await;
    let (dir, base) = http_fixture(&env);
    let hex = write_fixtures(&dir);
    let uri = module("uri");
    let r = lab
        .run(
            &uri,
            json!({"url": format!("{base}/rigtest/payload.tar.gz.sha256"), "return_content": true}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(!r.changed);
    assert_eq!(field(&r, "status"), "200");
    assert_eq!(field(&r, "content"), format!("{hex}\n"));
    assert_eq!(field(&r, "msg"), "OK (65 bytes)");
    let r = lab
        .run(
            &uri,
            json!({"url": format!("{base}/rigtest/data.json")}),
            false,
            false,
        )
        .await
        .unwrap();
    assert_eq!(r.data["json"].get_attr("name").unwrap().to_string(), "rig");
    assert_eq!(field(&r, "content_type"), "application/json");
    let e = failure(
        lab.run(
            &uri,
            json!({"url": format!("{base}/rigtest/nope")}),
            false,
            false,
        )
        .await,
    );
    assert_eq!(
        e,
        "Status code was 404 and not [200]: HTTP Error 404: File not found"
    );
    let r = lab
        .run(
            &uri,
            json!({"url": format!("{base}/rigtest/nope"), "status_code": [200, 404]}),
            false,
            false,
        )
        .await
        .unwrap();
    assert_eq!(field(&r, "status"), "404");
    lab.sh("rm -f /tmp/rig-uri.json").await;
    let r = lab
        .run(
            &uri,
            json!({"url": format!("{base}/rigtest/data.json"), "dest": "/tmp/rig-uri.json"}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed);
    assert_eq!(
        lab.sh("cat /tmp/rig-uri.json").await,
        "{\"name\": \"rig\", \"n\": [1, 2]}\n"
    );
    // a POST with a JSON body: python's http.server answers 501, which the task accepts here
    let r = lab.run(&uri, json!({"url": format!("{base}/"), "method": "POST", "body_format": "json", "body": {"a": 1}, "status_code": 501}), false, false).await.unwrap();
    assert_eq!(field(&r, "status"), "501");
}

async fn hostname_with_hostnamectl(env: Arc<LabEnv>) {
    let lab = sys(&env, "h2").await;
    let hn = module("hostname");
    let orig = lab
        .sh("hostnamectl --static status")
        .await
        .trim()
        .to_string();
    let names = || async {
        lab.sh("echo $(hostnamectl --static status) $(hostnamectl --transient status)")
            .await
            .trim()
            .to_string()
    };
    let r = lab
        .run(&hn, json!({"name": "rig-host.example"}), true, true)
        .await
        .unwrap();
    assert!(r.changed);
    assert_eq!(r.diffs[0].before, format!("hostname = {orig}\n"));
    assert_eq!(r.diffs[0].after, "hostname = rig-host.example\n");
    assert_eq!(names().await, format!("{orig} {orig}"));
    let r1 = lab
        .run(&hn, json!({"name": "rig-host.example"}), false, false)
        .await;
    let after = names().await;
    let before2 = lab.trips();
    let r2 = lab
        .run(&hn, json!({"name": "rig-host.example"}), false, false)
        .await;
    let trips2 = lab.trips() - before2;
    let back = lab.run(&hn, json!({"name": orig}), false, false).await;
    assert!(r1.unwrap().changed);
    assert_eq!(after, "rig-host.example rig-host.example");
    let r2 = r2.unwrap();
    assert!(!r2.changed);
    assert_eq!(trips2, 1, "a no-op hostname run is one probe");
    assert_eq!(
        r2.data["ansible_facts"]
            .get_attr("ansible_hostname")
            .unwrap()
            .to_string(),
        "rig-host"
    );
    assert!(back.unwrap().changed);
    assert_eq!(names().await, format!("{orig} {orig}"));
}

async fn cron_jobs_in_user_crontab_and_cron_file(env: Arc<LabEnv>) {
    let lab = sys(&env, "h1").await;
    install_cron(&lab).await;
    let cron = module("cron");
    lab.sh("crontab -r 2>/dev/null; rm -f /etc/cron.d/rig-test; true")
        .await;
    let a = json!({"name": "backup", "minute": "5", "hour": "2", "job": "/usr/local/bin/backup"});
    let r = lab.run(&cron, a.clone(), true, true).await.unwrap();
    assert!(r.changed);
    assert_eq!(
        r.diffs[0].after,
        "#Ansible: backup\n5 2 * * * /usr/local/bin/backup\n"
    );
    assert_eq!(lab.sh("crontab -l 2>/dev/null").await, "");
    let r = lab.run(&cron, a.clone(), false, false).await.unwrap();
    assert!(r.changed);
    assert_eq!(field(&r, "jobs"), "['backup']");
    assert!(
        lab.sh("crontab -l")
            .await
            .ends_with("#Ansible: backup\n5 2 * * * /usr/local/bin/backup\n")
    );
    let r = lab.run(&cron, a.clone(), false, false).await.unwrap();
    assert!(!r.changed, "{r:?}");
    // an env var goes first; changing the time updates the job in place
    let r = lab
        .run(
            &cron,
            json!({"name": "MAILTO", "env": true, "job": "ops@example.org"}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed);
    let r = lab
        .run(
            &cron,
            json!({"name": "backup", "minute": "7", "hour": "2", "job": "/usr/local/bin/backup"}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed);
    let tab = lab.sh("crontab -l | grep -v '^# '").await;
    assert_eq!(
        tab,
        "MAILTO=\"ops@example.org\"\n#Ansible: backup\n7 2 * * * /usr/local/bin/backup\n"
    );
    let r = lab
        .run(
            &cron,
            json!({"name": "backup", "state": "absent"}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed);
    assert_eq!(
        lab.sh("crontab -l | grep -v '^# '").await,
        "MAILTO=\"ops@example.org\"\n"
    );
    // cron_file: needs user, written with the user column, removed when emptied
    let e = failure(
        lab.run(
            &cron,
            json!({"name": "x", "cron_file": "rig-test", "job": "true"}),
            false,
            false,
        )
        .await,
    );
    assert_eq!(
        e,
        "To use cron_file=... parameter you must specify user=... as well"
    );
    let f = json!({"name": "daily", "cron_file": "rig-test", "user": "root", "special_time": "daily", "job": "/bin/true"});
    let r = lab.run(&cron, f.clone(), false, false).await.unwrap();
    assert!(r.changed);
    assert_eq!(
        lab.sh("stat -c %a /etc/cron.d/rig-test; cat /etc/cron.d/rig-test")
            .await,
        "644\n#Ansible: daily\n@daily root /bin/true\n"
    );
    let r = lab.run(&cron, f, false, false).await.unwrap();
    assert!(!r.changed);
    let g = json!({"name": "daily", "cron_file": "rig-test", "state": "absent"});
    let r = lab.run(&cron, g.clone(), false, true).await.unwrap();
    assert!(r.changed);
    assert_eq!(r.diffs[0].after_header, "/dev/null");
    assert_eq!(lab.sh("ls /etc/cron.d/rig-test 2>/dev/null").await, "");
    lab.sh("crontab -r").await;
}

async fn sysctl_file_and_live_value(env: Arc<LabEnv>) {
    let lab = sys(&env, "h2").await;
    let sc = module("sysctl");
    let f = "/etc/sysctl.d/99-rig-test.conf";
    lab.sh(&format!(
        "printf '# rig\\nvm.swappiness = 10\\nnet.x=1\\nnet.x=2\\n' > {f}"
    ))
    .await;
    let a = json!({"name": "vm.swappiness", "value": "20", "sysctl_file": f, "reload": false});
    let r = lab.run(&sc, a.clone(), true, false).await.unwrap();
    assert!(r.changed);
    assert!(
        lab.sh(&format!("cat {f}"))
            .await
            .contains("vm.swappiness = 10")
    );
    let r = lab.run(&sc, a.clone(), false, false).await.unwrap();
    assert!(r.changed);
    assert_eq!(
        lab.sh(&format!("cat {f}")).await,
        "# rig\nvm.swappiness=20\nnet.x=1\n"
    );
    let (r, trips) = lab.run_counted(&sc, a.clone()).await;
    assert!(!r.changed);
    assert_eq!(trips, 1);
    let r = lab
        .run(
            &sc,
            json!({"name": "vm.swappiness", "state": "absent", "sysctl_file": f, "reload": false}),
            false,
            false,
        )
        .await
        .unwrap();
    assert!(r.changed);
    assert_eq!(lab.sh(&format!("cat {f}")).await, "# rig\nnet.x=1\n");
    // the lab's /proc/sys is read-only: setting the live value fails with sysctl's reason
    let live = lab.sh("sysctl -n vm.swappiness").await.trim().to_string();
    let other = if live == "33" { "34" } else { "33" };
    let e = failure(lab.run(&sc, json!({"name": "vm.swappiness", "value": other, "sysctl_file": f, "sysctl_set": true, "reload": false}), false, false).await);
    assert!(e.starts_with("setting vm.swappiness failed: "), "{e}");
    lab.sh(&format!("rm -f {f}")).await;
}
