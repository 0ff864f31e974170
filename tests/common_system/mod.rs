//! Helpers for the system-module integration tests: they run against real lab hosts over ssh,
//! found through `RIG_LAB_SSH_CONFIG` (an ssh_config naming the hosts) and `RIG_LAB_HOSTS`
//! (space-separated host names, default `h1`). Without them the tests print why and pass.

#![allow(dead_code)]

pub mod ssh_cli;

use rig::modules::{Args, ControllerFiles, Module, ModuleContext, ModuleError, ModuleResult};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub struct Lab {
    pub conn: ssh_cli::SshCli,
    pub host: String,
    pub files: DirFiles,
}

/// Controller files from one directory (the role/play search path is the engine's job).
pub struct DirFiles(pub PathBuf);

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

/// The lab host number `i` (0-based) of `RIG_LAB_HOSTS`, or `None` with the reason printed.
pub fn lab(test: &str, i: usize) -> Option<Lab> {
    let Ok(cfg) = std::env::var("RIG_LAB_SSH_CONFIG") else {
        eprintln!("skipping {test}: RIG_LAB_SSH_CONFIG is not set (point it at a lab ssh_config)");
        return None;
    };
    let hosts = std::env::var("RIG_LAB_HOSTS").unwrap_or_else(|_| "h1".into());
    let hosts: Vec<&str> = hosts.split_whitespace().collect();
    let host = hosts
        .get(i % hosts.len().max(1))
        .copied()
        .unwrap_or("h1")
        .to_string();
    Some(Lab {
        conn: ssh_cli::SshCli::new(&cfg, &host),
        host,
        files: DirFiles(std::env::temp_dir()),
    })
}

/// Arguments from a JSON object.
pub fn args(v: serde_json::Value) -> Args {
    match v {
        serde_json::Value::Object(m) => m
            .into_iter()
            .map(|(k, v)| (k, minijinja::Value::from(minijinja::value::Serde(v))))
            .collect(),
        _ => panic!("args must be an object"),
    }
}

impl Lab {
    pub async fn run(
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
    pub fn trips(&self) -> u64 {
        use rig::connection::Connection;
        self.conn.round_trips()
    }

    /// Runs `m` and returns the result with the round trips it took.
    pub async fn run_counted(
        &self,
        m: &Arc<dyn Module>,
        a: serde_json::Value,
    ) -> (ModuleResult, u64) {
        let before = self.trips();
        let r = self.run(m, a, false, false).await.expect("module ran");
        (r, self.trips() - before)
    }

    /// Runs a shell command on the host (for setup and for checking the outcome).
    pub async fn sh(&self, script: &str) -> String {
        use rig::connection::{Command, Connection};
        let out = self
            .conn
            .run(&Command::new(script))
            .await
            .expect("lab host reachable");
        out.stdout_str()
    }
}

pub fn module(name: &str) -> Arc<dyn Module> {
    rig::modules::system::register_system_modules()
        .into_iter()
        .find(|m| m.name() == name)
        .expect("module registered")
}

pub fn field(r: &ModuleResult, k: &str) -> String {
    r.data.get(k).map(|v| v.to_string()).unwrap_or_default()
}

pub fn failure(r: Result<ModuleResult, ModuleError>) -> String {
    match r {
        Ok(r) => panic!(
            "expected a failure, got changed={} data={:?}",
            r.changed, r.data
        ),
        Err(e) => e.to_string(),
    }
}

/// A directory the lab's http server serves (controller side) and its URL as the hosts see
/// it: `RIG_LAB_REPO_DIR` and `RIG_LAB_REPO_URL`.
pub fn http_fixture(test: &str) -> Option<(PathBuf, String)> {
    match (
        std::env::var("RIG_LAB_REPO_DIR"),
        std::env::var("RIG_LAB_REPO_URL"),
    ) {
        (Ok(d), Ok(u)) => Some((PathBuf::from(d), u.trim_end_matches('/').to_string())),
        _ => {
            eprintln!("skipping {test}: RIG_LAB_REPO_DIR / RIG_LAB_REPO_URL are not set");
            None
        }
    }
}

/// Writes the download fixtures under `dir/rigtest/`: a tarball (`payload.tar.gz`: `top/a.txt`,
/// `top/sub/b.txt`), a corrupt one, and checksum files in the formats get_url reads.
/// Returns the tarball's sha256.
pub fn write_fixtures(dir: &Path) -> String {
    // Tests run in parallel: write the files once per test process.
    static ONCE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| write_fixtures_now(dir)).clone()
}

fn write_fixtures_now(dir: &Path) -> String {
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
    // an empty flat apt repository (for apt_repository)
    std::fs::write(d.join("Packages"), "").unwrap();
    std::fs::write(d.join("data.json"), "{\"name\": \"rig\", \"n\": [1, 2]}\n").unwrap();
    hex
}

/// Builds `dir/rigtest/wheels/rigdemo-1.0-py3-none-any.whl` with the controller's python3
/// (a test fixture only; the targets need no Python for rig itself). `false` if python3 is
/// missing here.
pub fn write_wheel(dir: &Path) -> bool {
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
