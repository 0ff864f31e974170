//! The module matrix: every module rig has, run by the real `rig playbook` CLI on one lab host
//! and by real ansible-playbook on another, from the same fresh state (tests/module_matrix/).
//!
//! One case file per module under `tests/module_matrix/*.yml` (format in the README there): a
//! small playbook (`setup` tasks, the task under test named `under test`, optional `after`
//! tasks and a `variant` of the task) and what to snapshot (paths, trees, packages, units,
//! users, groups, commands). For each case, on host A with rig:
//!   setup; `--check --diff` (status as expected, snapshot incl. mtimes/inodes/MainPIDs
//!   unchanged); `--diff` first run (changed, snapshot changed); rerun (ok, snapshot incl.
//!   mtimes/inodes/MainPIDs unchanged); variant `--check --diff` (snapshot unchanged);
//! and on host B, ansible-playbook runs all cases of the pair in one playbook: per case a
//! setup play (behind a `wait_for` gate the harness opens when host A starts the case), the
//! task in a `check_mode: true, diff: true` play, with `diff: true`, again, and the variant in
//! a check/diff play; the output is read as it comes, and a case is compared once host B waits
//! at the next gate. The task blocks of the output (status line, diff, messages) of each step
//! must be the same after normalising host names, temp paths and timestamps, and the snapshots
//! of A and B must be equal (without mtimes/PIDs). Failure cases (`expect.first: failed`)
//! check the failure instead: the message (substrings from the case, and the same message as
//! Ansible's), exit code 2 and a snapshot that did not move.
//!
//! Cases run in parallel on the host pairs h1/h2, h3/h4, h5/h6, h7/h8 (`pair` in the case
//! file), one after another within a pair; each case is one test (`module_matrix::<case>`), so
//! `cargo test --test lab_ssh -- module_matrix::copy` runs one. The first test started
//! starts the workers for all selected cases; each test waits for its own case's result.

use crate::TestFn;
use crate::common::lab::Lab;
use rig::connection::Connection;
use rig::connection::ssh::{SshConnection, SshTarget};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

const PAIRS: [(&str, &str); 4] = [("h1", "h2"), ("h3", "h4"), ("h5", "h6"), ("h7", "h8")];
const ANSIBLE_PLAYBOOK: &str = "/var/tmp/ansible-venv/bin/ansible-playbook";

// ---------- case files ----------

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
struct Case {
    /// What the case checks (shown on failure, listed in the README).
    #[serde(default)]
    about: String,
    /// Host pair 1-4 (default: by position).
    #[serde(default)]
    pair: Option<usize>,
    /// Shell run as root on both hosts before anything (prerequisites outside the test, e.g.
    /// installing cron from the lab repo).
    #[serde(default)]
    prepare: String,
    /// Tasks (YAML list text) run before the task under test, by the same tool.
    #[serde(default)]
    setup: String,
    /// The task under test (YAML list text with one task named `under test`).
    task: String,
    /// Tasks after the task under test in the same play (e.g. saving a registered result).
    #[serde(default)]
    after: String,
    /// A changed variant of the task, run in check + diff mode after the task.
    #[serde(default)]
    variant: String,
    /// Controller files next to the playbook (`templates/x.j2`, `files/y`).
    #[serde(default)]
    files: BTreeMap<String, String>,
    #[serde(default)]
    expect: Expect,
    #[serde(default)]
    snapshot: Snapshot,
    /// False when ansible-core has no such module (the case says why): rig alone is checked.
    #[serde(default = "yes")]
    ansible: bool,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
struct Expect {
    /// Status of the task under test in `--check` before the first run.
    #[serde(default = "changed")]
    check: String,
    /// Status of the first run (`changed`, `ok`, `failed`).
    #[serde(default = "changed")]
    first: String,
    /// Status of the second run.
    #[serde(default = "ok")]
    second: String,
    /// Substrings of rig's failure message (when `first` is `failed`).
    #[serde(default)]
    message: Vec<String>,
    /// The failure message must equal Ansible's (after normalising); false when they differ by
    /// design (documented in the case).
    #[serde(default = "yes")]
    same_message: bool,
    /// Compare the failure messages as sorted lines (Ansible joins some reasons from a Python
    /// set, whose order changes from run to run).
    #[serde(default)]
    message_lines_unordered: bool,
    /// Whether the first run changes the snapshot (false for modules that only read).
    #[serde(default = "yes")]
    state_changes: bool,
}

fn changed() -> String {
    "changed".into()
}
fn ok() -> String {
    "ok".into()
}
fn yes() -> bool {
    true
}

impl Default for Expect {
    fn default() -> Self {
        Expect {
            check: changed(),
            first: changed(),
            second: ok(),
            message: Vec::new(),
            same_message: true,
            message_lines_unordered: false,
            state_changes: true,
        }
    }
}

#[derive(Deserialize, Debug, Clone, Default)]
#[serde(deny_unknown_fields)]
struct Snapshot {
    /// Files, directories, links: type, mode, owner, group, size, sha256, link target.
    #[serde(default)]
    paths: Vec<String>,
    /// Paths whose mtime and inode only are recorded (compared between runs on host A, not
    /// with host B): files with a timestamp or temp name inside (crontab's header).
    #[serde(default)]
    mtimes: Vec<String>,
    /// Directories listed recursively the same way.
    #[serde(default)]
    trees: Vec<String>,
    /// Debian packages: version and dpkg status.
    #[serde(default)]
    packages: Vec<String>,
    /// systemd units: load/active/sub/unit-file state (MainPID only within host A).
    #[serde(default)]
    units: Vec<String>,
    /// passwd + shadow hash + groups + home.
    #[serde(default)]
    users: Vec<String>,
    #[serde(default)]
    groups: Vec<String>,
    /// Any shell command whose output must match.
    #[serde(default)]
    commands: Vec<String>,
}

fn case_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/module_matrix")
}

/// The case files, sorted by name, with their assigned pair (0-based).
static CASES: LazyLock<Vec<(String, Case, usize)>> = LazyLock::new(|| {
    let mut names: Vec<PathBuf> = std::fs::read_dir(case_dir())
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "yml"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let name = p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let text =
                std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let case: Case =
                serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let pair = case
                .pair
                .map(|n| n.clamp(1, PAIRS.len()) - 1)
                .unwrap_or(i % PAIRS.len());
            (name, case, pair)
        })
        .collect()
});

// ---------- tests: one per case ----------

type CaseFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

fn run_nth<const N: usize>(lab: Arc<Lab>) -> CaseFuture {
    Box::pin(await_case(lab, N))
}

macro_rules! nth_fns {
    ($($n:literal)*) => { [$(run_nth::<$n> as TestFn),*] };
}
const MAX_CASES: usize = 48;
static RUNNERS: [TestFn; MAX_CASES] = nth_fns![
    0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33
    34 35 36 37 38 39 40 41 42 43 44 45 46 47
];

fn test_name(case: &str) -> String {
    format!("module_matrix::{case}")
}

/// One test per case file, in the order the pair workers finish them (round robin over pairs).
pub fn tests() -> Vec<(&'static str, TestFn)> {
    assert!(CASES.len() <= MAX_CASES, "more than {MAX_CASES} case files");
    let mut order: Vec<(usize, usize)> = Vec::new(); // (position within pair, case index)
    let mut seen = [0usize; PAIRS.len()];
    for (i, (_, _, pair)) in CASES.iter().enumerate() {
        order.push((seen[*pair], i));
        seen[*pair] += 1;
    }
    order.sort();
    order
        .into_iter()
        .map(|(_, i)| {
            let name: &'static str = Box::leak(test_name(&CASES[i].0).into_boxed_str());
            (name, RUNNERS[i])
        })
        .collect()
}

type Outcome = Result<String, String>;
type Sender = tokio::sync::watch::Sender<Option<Outcome>>;
static RESULTS: LazyLock<Mutex<HashMap<usize, tokio::sync::watch::Receiver<Option<Outcome>>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));
static STARTED: std::sync::Once = std::sync::Once::new();

/// The cases this test process runs: those the command line's filter selects (as main does).
fn selected() -> Vec<usize> {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    (0..CASES.len())
        .filter(|i| {
            filter
                .as_ref()
                .is_none_or(|f| test_name(&CASES[*i].0).contains(f.as_str()))
        })
        .collect()
}

/// Starts one worker per host pair (once) and waits for case `n`'s outcome.
async fn await_case(lab: Arc<Lab>, n: usize) {
    STARTED.call_once(|| {
        let sel = selected();
        let mut map = RESULTS.lock().unwrap_or_else(|e| e.into_inner());
        let mut per_pair: Vec<Vec<(usize, tokio::sync::watch::Sender<Option<Outcome>>)>> =
            Vec::new();
        per_pair.resize_with(PAIRS.len(), Vec::new);
        for i in sel {
            let (tx, rx) = tokio::sync::watch::channel(None);
            map.insert(i, rx);
            per_pair[CASES[i].2].push((i, tx));
        }
        let prep = Arc::new(tokio::sync::OnceCell::<Result<Fixtures, String>>::new());
        for (p, cases) in per_pair.into_iter().enumerate() {
            if cases.is_empty() {
                continue;
            }
            let lab = lab.clone();
            let prep = prep.clone();
            tokio::spawn(async move {
                let fx = prep
                    .get_or_init(|| async { prepare_repo(&lab).await })
                    .await
                    .clone();
                let cases: Vec<(usize, Arc<Sender>)> =
                    cases.into_iter().map(|(i, tx)| (i, Arc::new(tx))).collect();
                let why = match fx {
                    Err(e) => format!("lab preparation failed: {e}"),
                    Ok(fx) => {
                        let job = run_pair(lab.clone(), fx, cases.clone(), PAIRS[p]);
                        match tokio::spawn(job).await {
                            Ok(()) => "the pair worker sent no result".into(),
                            Err(e) => format!("pair worker panicked: {e}"),
                        }
                    }
                };
                for (_, tx) in cases {
                    if tx.borrow().is_none() {
                        let _ = tx.send(Some(Err(why.clone())));
                    }
                }
            });
        }
    });
    let rx = RESULTS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&n)
        .cloned();
    let Some(mut rx) = rx else {
        panic!("case {} was not scheduled", CASES[n].0);
    };
    let out = loop {
        if let Some(o) = rx.borrow_and_update().clone() {
            break o;
        }
        if rx.changed().await.is_err() {
            break Err("worker ended without a result".into());
        }
    };
    match out {
        Ok(note) => {
            if !note.is_empty() {
                println!("    {}: {note}", CASES[n].0);
            }
        }
        Err(e) => panic!("{}: {}\n{e}", CASES[n].0, CASES[n].1.about.trim()),
    }
}

// ---------- lab preparation ----------

#[derive(Clone, Debug)]
struct Fixtures {
    /// `-e` variables every run gets: mm_repo, mm_repo_host, mm_tar_sha256, mm_bad_sha256.
    vars: Vec<(String, String)>,
}

/// Test fixtures served by the lab's http server (`$LAB_REPO/mm/`), the .debs the cases need
/// that the base image lacks (cron, python3-packaging for Ansible's pip), re-indexed.
async fn prepare_repo(lab: &Lab) -> Result<Fixtures, String> {
    let repo = crate::common::lab::repo_dir();
    let url = crate::common::lab::repo_url(lab);
    let host = url
        .split("://")
        .nth(1)
        .and_then(|r| r.split(':').next())
        .unwrap_or("")
        .to_string();
    let repo2 = repo.clone();
    let hex = tokio::task::spawn_blocking(move || write_fixtures(&repo2))
        .await
        .map_err(|e| e.to_string())??;
    let bad = "0".repeat(64);
    Ok(Fixtures {
        vars: vec![
            ("mm_repo".into(), url),
            ("mm_repo_host".into(), host),
            ("mm_tar_sha256".into(), hex),
            ("mm_bad_sha256".into(), bad),
        ],
    })
}

fn sh_ok(cmd: &mut std::process::Command, what: &str) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn write_fixtures(repo: &Path) -> Result<String, String> {
    use sha2::Digest;
    let d = repo.join("mm");
    let src = d.join("src");
    let io = |e: std::io::Error| e.to_string();
    std::fs::create_dir_all(src.join("top/sub")).map_err(io)?;
    std::fs::write(src.join("top/a.txt"), "alpha\n").map_err(io)?;
    std::fs::write(src.join("top/sub/b.txt"), "beta\n").map_err(io)?;
    sh_ok(
        std::process::Command::new("tar")
            .args(["--mtime=2024-01-01 00:00:00", "--owner=0", "--group=0"])
            .args(["--sort=name", "-czf"])
            .arg(d.join("payload.tar.gz"))
            .arg("-C")
            .arg(&src)
            .arg("top"),
        "tar",
    )?;
    let bytes = std::fs::read(d.join("payload.tar.gz")).map_err(io)?;
    let hex: String = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    std::fs::write(
        d.join("SHA256SUMS"),
        format!("{}  other.tar.gz\n{hex}  payload.tar.gz\n", "0".repeat(64)),
    )
    .map_err(io)?;
    let mut corrupt = bytes[..bytes.len() / 2].to_vec();
    corrupt.extend_from_slice(b"garbage");
    std::fs::write(d.join("corrupt.tar.gz"), corrupt).map_err(io)?;
    std::fs::write(d.join("data.json"), "{\"name\": \"rig\", \"n\": [1, 2]}\n").map_err(io)?;
    // two versions of a pure-python wheel for pip
    let wheels = d.join("wheels");
    std::fs::create_dir_all(&wheels).map_err(io)?;
    let script = r#"
import base64, hashlib, sys, zipfile
for v in ("1.0", "1.1"):
    out = sys.argv[1] + f"/mmdemo-{v}-py3-none-any.whl"
    files = {
        "mmdemo/__init__.py": f"VERSION = '{v}'\n",
        f"mmdemo-{v}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: mmdemo\nVersion: {v}\n",
        f"mmdemo-{v}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: rig-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    with zipfile.ZipFile(out, "w") as z:
        for name, text in files.items():
            data = text.encode()
            zi = zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0))
            z.writestr(zi, data)
            h = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{name},sha256={h},{len(data)}")
        record.append(f"mmdemo-{v}.dist-info/RECORD,,")
        z.writestr(zipfile.ZipInfo(f"mmdemo-{v}.dist-info/RECORD", (2024, 1, 1, 0, 0, 0)), "\n".join(record) + "\n")
"#;
    sh_ok(
        std::process::Command::new("python3")
            .args(["-c", script])
            .arg(&wheels),
        "building the test wheels with python3",
    )?;
    // Debian packages the base lacks: cron (cron case), python3-packaging (Ansible's pip).
    let have = |pkg: &str| {
        std::fs::read_dir(repo)
            .map(|d| {
                d.flatten().any(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with(&format!("{pkg}_"))
                })
            })
            .unwrap_or(false)
    };
    let missing: Vec<&str> = ["cron", "cron-daemon-common", "python3-packaging"]
        .into_iter()
        .filter(|p| !have(p))
        .collect();
    if !missing.is_empty() {
        sh_ok(
            std::process::Command::new("apt-get")
                .args(["download", "-q"])
                .args(&missing)
                .current_dir(repo),
            "apt-get download",
        )?;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    sh_ok(
        std::process::Command::new("bash")
            .arg(root.join("tests/lab/repo.sh"))
            .env("LAB_REPO", repo),
        "repo.sh",
    )?;
    Ok(hex)
}

// ---------- running things ----------

async fn conn(lab: &Lab, host: &str) -> Result<SshConnection, String> {
    let vars = lab.host_vars(host);
    let mut t = SshTarget::from_vars(host, "sudo", |k| vars.get(k).cloned())
        .map_err(|e| format!("inventory vars of {host}: {e}"))?;
    t.connect_timeout = Duration::from_secs(10);
    SshConnection::connect(t)
        .await
        .map_err(|e| format!("connect {host}: {e}"))
}

async fn remote(c: &SshConnection, script: &str) -> Result<String, String> {
    c.run(&rig::connection::Command::new(script))
        .await
        .map(|o| o.stdout_str())
        .map_err(|e| format!("run {script:?}: {e}"))
}

struct Run {
    code: Option<i32>,
    out: String,
    secs: f64,
}

/// `program ... -i inventory -l host -e k=v... extra playbook` in `dir`.
async fn playbook(
    program: &[&str],
    lab: &Lab,
    fx: &Fixtures,
    host: &str,
    dir: &Path,
    extra: &[&str],
    file: &str,
) -> Run {
    let t0 = Instant::now();
    let mut cmd = tokio::process::Command::new(program[0]);
    cmd.args(&program[1..])
        .arg("-i")
        .arg(&lab.inventory)
        .args(["-l", host]);
    for (k, v) in &fx.vars {
        cmd.arg("-e").arg(format!("{k}={v}"));
    }
    cmd.args(extra)
        .arg(file)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_PIPELINING", "1")
        .env("ANSIBLE_RETRY_FILES_ENABLED", "0")
        .env_remove("ANSIBLE_CONFIG")
        .env_remove("ANSIBLE_FORCE_COLOR")
        .kill_on_drop(true);
    match cmd.output().await {
        Ok(o) => Run {
            code: o.status.code(),
            out: format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
            secs: t0.elapsed().as_secs_f64(),
        },
        Err(e) => Run {
            code: None,
            out: format!("{}: {e}", program[0]),
            secs: t0.elapsed().as_secs_f64(),
        },
    }
}

fn indent(tasks: &str) -> String {
    tasks
        .lines()
        .map(|l| {
            if l.trim().is_empty() {
                String::new()
            } else {
                format!("    {l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A play over all (limited) hosts without facts; `keywords` are extra play keywords.
fn play(name: &str, keywords: &str, tasks: &[&str]) -> String {
    let body: Vec<String> = tasks
        .iter()
        .filter(|t| !t.trim().is_empty())
        .map(|t| indent(t))
        .collect();
    if body.is_empty() {
        return String::new();
    }
    format!(
        "- name: {name}\n  hosts: all\n  gather_facts: false\n{keywords}  tasks:\n{}\n",
        body.join("\n")
    )
}

/// The playbooks of a pair's cases in one directory: `<case>.setup.yml`, `<case>.task.yml`,
/// `<case>.variant.yml` for rig, and `ansible.yml` with, for every case in order, a setup play,
/// the task in a check + diff play, the task in a diff play and the variant in a check + diff
/// play (plays named `<case> setup|check|run|variant`; errors ignored so that a failure case
/// does not end the host's run). Controller files of all cases go into the same directory.
fn write_pair_dir(cases: &[(&str, &Case)]) -> Result<tempfile::TempDir, String> {
    let tmp = tempfile::Builder::new()
        .prefix("rig-mm-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let d = tmp.path();
    let w = |name: &str, text: &str| {
        let p = d.join(name);
        if p.exists() {
            return Err(format!("{name}: two cases of a pair write it"));
        }
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))
    };
    let check = "  check_mode: true\n  diff: true\n  ignore_errors: true\n";
    let mut ansible = String::new();
    for (name, case) in cases {
        if !case.ansible {
            // (rig's playbooks only; ansible-playbook would stop at the unknown module)
            let nonempty = |s: String| if s.is_empty() { "[]\n".to_string() } else { s };
            w(
                &format!("{name}.setup.yml"),
                &nonempty(play("setup", "", &[&case.setup])),
            )?;
            w(
                &format!("{name}.task.yml"),
                &play("test", "", &[&case.task, &case.after]),
            )?;
            w(
                &format!("{name}.variant.yml"),
                &nonempty(play("variant", "", &[&case.variant, &case.after])),
            )?;
            continue;
        }
        let nonempty = |s: String| if s.is_empty() { "[]\n".to_string() } else { s };
        w(
            &format!("{name}.setup.yml"),
            &nonempty(play("setup", "", &[&case.setup])),
        )?;
        w(
            &format!("{name}.task.yml"),
            &play("test", "", &[&case.task, &case.after]),
        )?;
        w(
            &format!("{name}.variant.yml"),
            &nonempty(play("variant", "", &[&case.variant, &case.after])),
        )?;
        // The harness opens each case's gate when host A starts the case and reads the output
        // as it comes: host B waits here while the previous case's state is snapshotted.
        let gate = format!(
            "- name: mm gate {name}\n  wait_for: {{path: /run/mm-gate/{name}, timeout: 1800}}\n"
        );
        ansible.push_str(&play(&format!("{name} setup"), "", &[&gate, &case.setup]));
        ansible.push_str(&play(
            &format!("{name} check"),
            check,
            &[&case.task, &case.after],
        ));
        ansible.push_str(&play(
            &format!("{name} run"),
            "  diff: true\n  ignore_errors: true\n",
            &[&case.task, &case.after],
        ));
        ansible.push_str(&play(
            &format!("{name} rerun"),
            "  ignore_errors: true\n",
            &[&case.task, &case.after],
        ));
        ansible.push_str(&play(
            &format!("{name} variant"),
            check,
            &[&case.variant, &case.after],
        ));
        for (rel, text) in &case.files {
            w(rel, text)?;
        }
    }
    w("ansible.yml", &ansible)?;
    Ok(tmp)
}

/// The output of the play named `name` (from its `PLAY [name]` header to the next play or the
/// recap).
fn play_section<'a>(out: &'a str, name: &str) -> Option<&'a str> {
    let start = out.find(&format!("PLAY [{name}]"))?;
    let rest = &out[start..];
    let end = rest[1..]
        .find("\nPLAY [")
        .into_iter()
        .chain(rest[1..].find("\nPLAY RECAP"))
        .min()
        .map(|e| e + 1)
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

// ---------- output parsing ----------

/// The `n`th (0-based) block of output for the task named `under test`: from its `TASK [...]`
/// header to the next header or the recap, stars and trailing blank lines dropped.
fn task_block(out: &str, n: usize) -> Option<String> {
    let starts: Vec<usize> = out
        .match_indices("TASK [under test]")
        .map(|(i, _)| i)
        .collect();
    let start = *starts.get(n)?;
    let rest = &out[start..];
    let end = rest[1..]
        .find("\nTASK [")
        .into_iter()
        .chain(rest[1..].find("\nPLAY ["))
        .chain(rest[1..].find("\nPLAY RECAP"))
        .chain(rest[1..].find("\nRUNNING HANDLER"))
        .min()
        .map(|e| e + 1)
        .unwrap_or(rest.len());
    let block = &rest[..end];
    let lines: Vec<&str> = block
        .lines()
        .map(|l| {
            if l.starts_with("TASK [") {
                l.trim_end_matches(['*', ' '])
            } else {
                l
            }
        })
        .collect();
    Some(lines.join("\n").trim_end().to_string())
}

/// The status of the task under test in a block: ok, changed, failed, skipped.
fn status(block: &str) -> String {
    for l in block.lines() {
        for (prefix, s) in [
            ("ok: [", "ok"),
            ("changed: [", "changed"),
            ("fatal: [", "failed"),
            ("failed: [", "failed"),
            ("skipping: [", "skipped"),
        ] {
            if l.starts_with(prefix) {
                return s.to_string();
            }
        }
    }
    "none".into()
}

/// The `msg` of a `fatal: [h]: FAILED! => {...}` line.
fn fatal_msg(block: &str) -> String {
    block
        .lines()
        .find(|l| l.starts_with("fatal: ["))
        .and_then(|l| l.split_once("=> "))
        .and_then(|(_, j)| serde_json::from_str::<serde_json::Value>(j).ok())
        .and_then(|v| v.get("msg").and_then(|m| m.as_str()).map(str::to_string))
        .unwrap_or_default()
}

/// Replaces what legitimately differs between two hosts and two runs.
fn normalise(text: &str, lab: &Lab, host: &str) -> String {
    static RES: LazyLock<Vec<(fancy_regex::Regex, &'static str)>> = LazyLock::new(|| {
        [
            // Ansible's and rig's temp files on the target
            (r"[^\s'\x22]*/\.rig-[^\s'\x22]*", "TMPPATH"),
            (r"/root/\.ansible/tmp/[^\s'\x22]*", "TMPPATH"),
            (r"/tmp/ansible[._][^\s'\x22]*", "TMPPATH"),
            (r"/tmp/\.?rig[._-][^\s'\x22]*", "TMPPATH"),
            // timestamps and durations
            (r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?", "TIMESTAMP"),
            (r"\d+:\d\d:\d\d\.\d+", "DELTA"),
        ]
        .into_iter()
        .map(|(r, s)| (fancy_regex::Regex::new(r).expect("regex"), s))
        .collect()
    });
    let mut t: String = text
        .lines()
        .filter(|l| *l != "...ignoring")
        .collect::<Vec<_>>()
        .join("\n");
    for (re, rep) in RES.iter() {
        t = re.replace_all(&t, *rep).into_owned();
    }
    let ip = &lab.host(host).ip;
    let word =
        fancy_regex::Regex::new(&format!(r"\b{}\b", fancy_regex::escape(host))).expect("regex");
    word.replace_all(&t.replace(ip.as_str(), "HOSTIP"), "HOST")
        .into_owned()
}

// ---------- snapshots ----------

/// `stable` must match between A and B; `volatile` (mtimes, inodes, MainPIDs) only between
/// runs on one host.
#[derive(Debug, PartialEq, Clone, Default)]
struct Snap {
    stable: BTreeMap<String, String>,
    volatile: BTreeMap<String, String>,
}

fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The script printing a snapshot on `host`; file contents are hashed with the host's name
/// and address replaced (a template with `inventory_hostname` is the same on A and B).
fn snapshot_script(s: &Snapshot, host: &str, ip: &str) -> String {
    let host_re = q(&format!("s/\\b{host}\\b/HOST/g"));
    let ip_re = q(&format!("s/{}/HOSTIP/g", ip.replace('.', "\\.")));
    let mut sc = String::from("export LC_ALL=C\n");
    let mut item = |key: String, stable: String, volatile: String| {
        sc.push_str(&format!(
            "echo '@@S {key}'; {{ {stable}\n}} 2>&1; echo '@@V {key}'; {{ {volatile}\n}} 2>&1\n"
        ));
    };
    for p in &s.paths {
        let p = q(p);
        item(
            format!("path {p}"),
            format!(
                "if [ -e {p} ] || [ -L {p} ]; then stat -c '%F %a %U %G' {p}; [ -L {p} ] && readlink {p}; [ -f {p} ] && ! [ -L {p} ] && sed -e {host_re} -e {ip_re} < {p} | sha256sum | cut -c1-64; [ -f {p} ] && stat -c 'size %s nlink %h' {p}; else echo absent; fi"
            ),
            format!("stat -c '%y %i' {p} 2>/dev/null; true"),
        );
    }
    for p in &s.mtimes {
        let p = q(p);
        item(
            format!("mtime {p}"),
            "true".into(),
            format!("stat -c '%y %i' {p} 2>/dev/null; true"),
        );
    }
    for t in &s.trees {
        let t = q(t);
        item(
            format!("tree {t}"),
            format!(
                "[ -d {t} ] || echo absent; find {t} -printf '%P|%y|%m|%u|%g|%l\\n' 2>/dev/null | sort; cd {t} 2>/dev/null && find . -type f -exec sha256sum {{}} + | sort -k2"
            ),
            format!("find {t} -printf '%P %T@ %i\\n' 2>/dev/null | sort"),
        );
    }
    if !s.packages.is_empty() {
        let pk: Vec<String> = s.packages.iter().map(|p| q(p)).collect();
        item(
            "packages".into(),
            format!(
                "dpkg-query -W -f='${{Package}} ${{Version}} ${{db:Status-Abbrev}}\\n' {} 2>&1",
                pk.join(" ")
            ),
            "true".into(),
        );
    }
    for u in &s.units {
        let u = q(u);
        item(
            format!("unit {u}"),
            format!("systemctl show -p LoadState,ActiveState,SubState,UnitFileState {u}"),
            format!("systemctl show -p MainPID,ExecMainStartTimestampMonotonic {u}"),
        );
    }
    for u in &s.users {
        let u = q(u);
        item(
            format!("user {u}"),
            format!(
                "getent passwd {u} || echo 'no user'; getent shadow {u} | cut -d: -f2,4-; id -nG {u}; h=$(getent passwd {u} | cut -d: -f6); [ -n \"$h\" ] && stat -c '%a %U %G' \"$h\""
            ),
            "true".into(),
        );
    }
    for g in &s.groups {
        let g = q(g);
        item(
            format!("group {g}"),
            format!("getent group {g} || echo 'no group'; getent gshadow {g}"),
            "true".into(),
        );
    }
    for (i, c) in s.commands.iter().enumerate() {
        item(format!("command {i}: {c}"), c.clone(), "true".into());
    }
    sc
}

async fn snapshot(c: &SshConnection, case: &Case, lab: &Lab, host: &str) -> Result<Snap, String> {
    let out = remote(
        c,
        &snapshot_script(&case.snapshot, host, &lab.host(host).ip),
    )
    .await?;
    let mut snap = Snap::default();
    let mut cur: Option<(bool, String)> = None;
    for line in out.split_inclusive('\n') {
        if let Some(k) = line.strip_prefix("@@S ") {
            cur = Some((true, k.trim_end().to_string()));
            snap.stable.insert(k.trim_end().to_string(), String::new());
            continue;
        }
        if let Some(k) = line.strip_prefix("@@V ") {
            cur = Some((false, k.trim_end().to_string()));
            snap.volatile
                .insert(k.trim_end().to_string(), String::new());
            continue;
        }
        if let Some((stable, k)) = &cur {
            let m = if *stable {
                &mut snap.stable
            } else {
                &mut snap.volatile
            };
            if let Some(v) = m.get_mut(k) {
                v.push_str(line);
            }
        }
    }
    for v in snap.stable.values_mut() {
        *v = normalise(v, lab, host);
    }
    Ok(snap)
}

fn snap_diff(
    a: &BTreeMap<String, String>,
    b: &BTreeMap<String, String>,
    la: &str,
    lb: &str,
) -> String {
    let mut out = String::new();
    for (k, v) in a {
        if b.get(k) != Some(v) {
            out.push_str(&format!(
                "  {k}:\n    {la}: {v:?}\n    {lb}: {:?}\n",
                b.get(k).map(String::as_str).unwrap_or("<missing>")
            ));
        }
    }
    out
}

// ---------- one case ----------

struct Ctx {
    log: String,
    errors: Vec<String>,
}

impl Ctx {
    fn expect(&mut self, cond: bool, what: impl FnOnce() -> String) {
        if !cond {
            self.errors.push(what());
        }
    }
}

fn show(r: &Run) -> String {
    format!("exit {:?}, {:.1} s\n{}", r.code, r.secs, r.out)
}

type Blocks = BTreeMap<&'static str, String>;

/// Runs one case with rig on host `a` (the pair's directory `d` holds its playbooks):
/// setup, --check --diff, --diff, rerun, variant --check --diff, with the snapshots between.
/// Returns the log, the errors and the task blocks (normalised) of check/first/variant.
async fn rig_case(
    lab: &Lab,
    fx: &Fixtures,
    ca: &SshConnection,
    d: &Path,
    name: &str,
    case: &Case,
    a: &str,
) -> Result<(String, Vec<String>, Blocks), String> {
    let mut cx = Ctx {
        log: String::new(),
        errors: Vec::new(),
    };
    let mut blocks = Blocks::new();
    let rig = [env!("CARGO_BIN_EXE_rig"), "playbook"];
    let file = |kind: &str| format!("{name}.{kind}.yml");
    let r = playbook(&rig, lab, fx, a, d, &[], &file("setup")).await;
    if r.code != Some(0) {
        return Err(format!("rig setup failed on {a}: {}", show(&r)));
    }
    let snap0 = snapshot(ca, case, lab, a).await?;
    // 1. --check --diff before the first run
    let r = playbook(&rig, lab, fx, a, d, &["--check", "--diff"], &file("task")).await;
    let blk = task_block(&r.out, 0).unwrap_or_default();
    let st = status(&blk);
    cx.log
        .push_str(&format!("--- rig --check --diff on {a}: {}\n", show(&r)));
    cx.expect(st == case.expect.check, || {
        format!("--check: status {st}, expected {}", case.expect.check)
    });
    blocks.insert("check", normalise(&blk, lab, a));
    let snap = snapshot(ca, case, lab, a).await?;
    cx.expect(snap == snap0, || {
        format!(
            "--check changed the host:\n{}{}",
            snap_diff(&snap0.stable, &snap.stable, "before", "after"),
            snap_diff(&snap0.volatile, &snap.volatile, "before", "after")
        )
    });
    // 2. the first run (with --diff)
    let r = playbook(&rig, lab, fx, a, d, &["--diff"], &file("task")).await;
    let blk = task_block(&r.out, 0).unwrap_or_default();
    let st = status(&blk);
    cx.log
        .push_str(&format!("--- rig --diff on {a}: {}\n", show(&r)));
    cx.expect(st == case.expect.first, || {
        format!("first run: status {st}, expected {}", case.expect.first)
    });
    blocks.insert("first", normalise(&blk, lab, a));
    let snap1 = snapshot(ca, case, lab, a).await?;
    if case.expect.first == "failed" {
        cx.expect(r.code == Some(2), || {
            format!("exit code {:?}, expected 2", r.code)
        });
        let fatal = blk
            .lines()
            .find(|l| l.starts_with("fatal: ["))
            .unwrap_or_default();
        for m in &case.expect.message {
            let m = fx
                .vars
                .iter()
                .fold(m.clone(), |m, (k, v)| m.replace(&format!("{{{k}}}"), v));
            cx.expect(fatal.contains(m.as_str()), || {
                format!("the failure ({fatal}) lacks {m:?}")
            });
        }
        cx.expect(snap1 == snap0, || {
            format!(
                "the failed run changed the host:\n{}{}",
                snap_diff(&snap0.stable, &snap1.stable, "before", "after"),
                snap_diff(&snap0.volatile, &snap1.volatile, "before", "after")
            )
        });
        return Ok((cx.log, cx.errors, blocks));
    }
    cx.expect(r.code == Some(0), || {
        format!("first run: exit code {:?}", r.code)
    });
    if case.expect.state_changes {
        cx.expect(snap1 != snap0, || {
            "the first run changed nothing in the snapshot".into()
        });
    }
    // 3. the second run changes nothing
    let r = playbook(&rig, lab, fx, a, d, &[], &file("task")).await;
    let blk = task_block(&r.out, 0).unwrap_or_default();
    let st = status(&blk);
    cx.log
        .push_str(&format!("--- rig rerun on {a}: {}\n", show(&r)));
    blocks.insert("second", normalise(&blk, lab, a));
    cx.expect(st == case.expect.second, || {
        format!("second run: status {st}, expected {}", case.expect.second)
    });
    let snap2 = snapshot(ca, case, lab, a).await?;
    if case.expect.second == "ok" {
        cx.expect(snap2 == snap1, || {
            format!(
                "the second run changed the host:\n{}{}",
                snap_diff(&snap1.stable, &snap2.stable, "first", "second"),
                snap_diff(&snap1.volatile, &snap2.volatile, "first", "second")
            )
        });
    }
    // 4. a changed variant in --check --diff: predicts, changes nothing
    if !case.variant.trim().is_empty() {
        let r = playbook(
            &rig,
            lab,
            fx,
            a,
            d,
            &["--check", "--diff"],
            &file("variant"),
        )
        .await;
        let blk = task_block(&r.out, 0).unwrap_or_default();
        cx.log.push_str(&format!(
            "--- rig variant --check --diff on {a}: {}\n",
            show(&r)
        ));
        blocks.insert("variant", normalise(&blk, lab, a));
        let snap3 = snapshot(ca, case, lab, a).await?;
        cx.expect(snap3 == snap2, || {
            format!(
                "the variant's --check changed the host:\n{}{}",
                snap_diff(&snap2.stable, &snap3.stable, "before", "after"),
                snap_diff(&snap2.volatile, &snap3.volatile, "before", "after")
            )
        });
    }
    Ok((cx.log, cx.errors, blocks))
}

/// ansible-playbook's output as it comes (stdout line by line; stderr at the end).
#[derive(Clone)]
struct Stream {
    buf: Arc<Mutex<String>>,
    rx: tokio::sync::watch::Receiver<bool>,
}

impl Stream {
    fn start(mut cmd: tokio::process::Command) -> Stream {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt};
        let buf = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = tokio::sync::watch::channel(false);
        let b = buf.clone();
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        tokio::spawn(async move {
            let push = |t: &str| b.lock().unwrap_or_else(|e| e.into_inner()).push_str(t);
            match cmd.spawn() {
                Err(e) => push(&format!("ansible-playbook: {e}\n")),
                Ok(mut child) => {
                    let mut err = child.stderr.take();
                    let err_task = tokio::spawn(async move {
                        let mut s = String::new();
                        if let Some(e) = err.as_mut() {
                            let _ = e.read_to_string(&mut s).await;
                        }
                        s
                    });
                    if let Some(out) = child.stdout.take() {
                        let mut lines = tokio::io::BufReader::new(out).lines();
                        while let Ok(Some(l)) = lines.next_line().await {
                            push(&format!("{l}\n"));
                            tx.send_modify(|_| {});
                        }
                    }
                    let code = child.wait().await.ok().and_then(|s| s.code());
                    let e = err_task.await.unwrap_or_default();
                    push(&format!("{e}\n@@EXIT {code:?}\n"));
                }
            }
            let _ = tx.send(true);
        });
        Stream { buf, rx }
    }

    fn text(&self) -> String {
        self.buf.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits until `marker` is in the output or the process ended; the output so far.
    async fn wait_for(&mut self, marker: &str) -> String {
        loop {
            let t = self.text();
            if t.contains(marker) || *self.rx.borrow_and_update() {
                return self.text();
            }
            if self.rx.changed().await.is_err() {
                return self.text();
            }
        }
    }
}

/// Runs a pair's cases: rig case by case on `a` while ansible-playbook runs all of them on
/// `b` in one playbook, gated case by case; compares each case's output and state as soon as
/// both hosts are through it, and sends its outcome.
async fn run_pair(
    lab: Arc<Lab>,
    fx: Fixtures,
    cases: Vec<(usize, Arc<Sender>)>,
    (a, b): (&'static str, &'static str),
) {
    let t0 = Instant::now();
    let named: Vec<(&str, &Case)> = cases
        .iter()
        .map(|(i, _)| (CASES[*i].0.as_str(), &CASES[*i].1))
        .collect();
    let fail_all = |e: String| {
        for (_, tx) in &cases {
            let _ = tx.send(Some(Err(e.clone())));
        }
    };
    let dir = match write_pair_dir(&named) {
        Ok(d) => d,
        Err(e) => return fail_all(e),
    };
    let d = dir.path().to_path_buf();
    let (ca, cb) = match tokio::try_join!(conn(&lab, a), conn(&lab, b)) {
        Ok(c) => c,
        Err(e) => return fail_all(e),
    };
    for (name, case) in &named {
        if case.prepare.trim().is_empty() {
            continue;
        }
        let script = format!("{{ {}\n}} 2>&1; echo rc=$?", case.prepare);
        match tokio::try_join!(remote(&ca, &script), remote(&cb, &script)) {
            Ok((pa, pb)) => {
                for (h, o) in [(a, pa), (b, pb)] {
                    if !o.trim_end().ends_with("rc=0") {
                        return fail_all(format!("{name}: prepare on {h} failed:\n{o}"));
                    }
                }
            }
            Err(e) => return fail_all(e),
        }
    }
    let have_ansible = Path::new(ANSIBLE_PLAYBOOK).exists();
    let mut stream = have_ansible.then(|| {
        let mut cmd = tokio::process::Command::new(ANSIBLE_PLAYBOOK);
        cmd.arg("-i").arg(&lab.inventory).args(["-l", b]);
        for (k, v) in &fx.vars {
            cmd.arg("-e").arg(format!("{k}={v}"));
        }
        cmd.arg("ansible.yml")
            .current_dir(&d)
            .env("PYTHONUNBUFFERED", "1")
            .env("ANSIBLE_NOCOLOR", "1")
            .env("NO_COLOR", "1")
            .env("ANSIBLE_PIPELINING", "1")
            .env("ANSIBLE_RETRY_FILES_ENABLED", "0")
            .env_remove("ANSIBLE_CONFIG")
            .env_remove("ANSIBLE_FORCE_COLOR")
            .kill_on_drop(true);
        Stream::start(cmd)
    });
    let compared: Vec<&str> = named
        .iter()
        .filter(|(_, c)| c.ansible)
        .map(|(n, _)| *n)
        .collect();
    for ((name, case), (_, tx)) in named.iter().zip(&cases) {
        let t1 = Instant::now();
        let on_b = case.ansible && stream.is_some();
        if on_b
            && let Err(e) = remote(
                &cb,
                &format!("mkdir -p /run/mm-gate && touch /run/mm-gate/{name}"),
            )
            .await
        {
            let _ = tx.send(Some(Err(e)));
            continue;
        }
        let res = rig_case(&lab, &fx, &ca, &d, name, case, a).await;
        // host B is through this case when the next compared case's setup play (its gate)
        // or the recap shows
        let next = compared
            .iter()
            .skip_while(|n| *n != name)
            .nth(1)
            .map(|n| format!("PLAY [{n} setup]"))
            .unwrap_or_else(|| "PLAY RECAP".into());
        let ans_out = match (&mut stream, on_b) {
            (Some(s), true) => Some(s.wait_for(&next).await),
            _ => None,
        };
        let (mut log, mut errors, blocks) = match res {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.send(Some(Err(e)));
                continue;
            }
        };
        let mut note = String::new();
        let fail_case = case.expect.first == "failed";
        match ans_out {
            None if !case.ansible => {
                note.push_str("not compared with ansible-playbook (see the case); ")
            }
            None if crate::common::lab::in_ci() => {
                errors.push(format!("{ANSIBLE_PLAYBOOK} missing (CI=true)"))
            }
            None => note.push_str("ansible-playbook missing: not compared; "),
            Some(out) => {
                let section = |play: &str| {
                    play_section(&out, &format!("{name} {play}"))
                        .and_then(|s| task_block(s, 0))
                        .map(|blk| normalise(&blk, &lab, b))
                        .unwrap_or_default()
                };
                if play_section(&out, &format!("{name} run")).is_none() {
                    errors.push(format!(
                        "ansible-playbook did not run the case on {b}:\n{}",
                        out.rsplit("PLAY [").next().unwrap_or_default()
                    ));
                }
                let mut shown = String::new();
                for (k, play) in [
                    ("check", "check"),
                    ("first", "run"),
                    ("second", "rerun"),
                    ("variant", "variant"),
                ] {
                    let Some(rig_blk) = blocks.get(k) else {
                        continue;
                    };
                    let ans_blk = section(play);
                    shown.push_str(&format!("--- ansible-playbook {play} on {b}:\n{ans_blk}\n"));
                    // A failed task: the status and the message (Ansible prints its error
                    // with the task's source lines inside the block, rig after the recap).
                    if (fail_case && k == "first")
                        || status(rig_blk) == "failed"
                        || status(&ans_blk) == "failed"
                    {
                        let (mut mr, mut ma) = (fatal_msg(rig_blk), fatal_msg(&ans_blk));
                        if case.expect.message_lines_unordered {
                            for m in [&mut mr, &mut ma] {
                                // (and without blank lines: a reason ending in a newline
                                // adds one unless it comes last)
                                let mut l: Vec<&str> =
                                    m.lines().filter(|l| !l.is_empty()).collect();
                                l.sort();
                                *m = l.join("\n");
                            }
                        }
                        if case.expect.same_message && mr != ma {
                            errors.push(format!(
                                "{k}: failure message differs from Ansible's:\n  rig:     {mr:?}\n  ansible: {ma:?}"
                            ));
                        }
                        if status(&ans_blk) != status(rig_blk) {
                            errors.push(format!(
                                "{k}: status {} but ansible's {}:\n{ans_blk}",
                                status(rig_blk),
                                status(&ans_blk)
                            ));
                        }
                        continue;
                    }
                    if *rig_blk != ans_blk {
                        errors.push(format!(
                            "{k} output differs from ansible-playbook's:\n--- rig ({a})\n{rig_blk}\n--- ansible ({b})\n{ans_blk}"
                        ));
                    }
                }
                log.push_str(&shown);
                match tokio::try_join!(snapshot(&ca, case, &lab, a), snapshot(&cb, case, &lab, b)) {
                    Ok((sa, sb)) => {
                        if sa.stable != sb.stable {
                            errors.push(format!(
                                "state differs between rig ({a}) and ansible-playbook ({b}):\n{}",
                                snap_diff(&sa.stable, &sb.stable, "rig", "ansible")
                            ));
                        }
                    }
                    Err(e) => errors.push(e),
                }
            }
        }
        if std::env::var_os("MM_LOG").is_some() {
            println!("===== {name} on {a}/{b} =====\n{log}");
        }
        note.push_str(&format!(
            "{a}/{b} {:.0} s (pair at {:.0} s)",
            t1.elapsed().as_secs_f64(),
            t0.elapsed().as_secs_f64()
        ));
        let _ = tx.send(Some(if errors.is_empty() {
            Ok(note)
        } else {
            Err(format!("{}\n\n===== log =====\n{log}", errors.join("\n\n")))
        }));
    }
    if let Some(s) = &mut stream {
        let out = s.wait_for("@@EXIT").await;
        println!(
            "    ansible-playbook on {b} ({} cases): {} after {:.1} s",
            compared.len(),
            out.lines().last().unwrap_or_default(),
            t0.elapsed().as_secs_f64()
        );
        if std::env::var_os("MM_LOG").is_some() {
            println!("===== ansible-playbook on {b} =====\n{out}");
        }
    }
}
