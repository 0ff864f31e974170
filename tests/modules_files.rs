//! The file modules against the local connection, in temp dirs: first run changes, second run
//! changes nothing (mtimes/inodes too), check mode changes nothing, diffs and final state equal
//! what real Ansible produced (recorded by tests/modules_files/generate.sh).

use indexmap::IndexMap;
use minijinja::Value;
use rig::connection::Connection;
use rig::connection::local::LocalConnection;
use rig::modules::{ControllerFiles, Module, ModuleContext, ModuleError, ModuleResult};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Finds controller files in one directory; renders with minijinja and `x = "world"`, keeping
/// trailing newlines as Ansible does.
struct TestFiles {
    dir: PathBuf,
}

impl ControllerFiles for TestFiles {
    fn find(&self, _kind: &str, name: &str) -> Option<PathBuf> {
        let p = self.dir.join(name);
        p.exists().then_some(p)
    }
    fn render(&self, path: &Path) -> Result<String, String> {
        let src = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
        let mut env = minijinja::Environment::new();
        env.set_syntax(
            minijinja::syntax::SyntaxConfig::builder()
                .trim_blocks(true)
                .keep_trailing_newline(true)
                .build()
                .map_err(|e| e.to_string())?,
        );
        env.render_str(&src, minijinja::context! { x => "world" })
            .map_err(|e| e.to_string())
    }
}

struct Env {
    tmp: tempfile::TempDir,
    conn: LocalConnection,
    files: TestFiles,
}

impl Env {
    fn new() -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let ctl = tmp.path().join("controller");
        std::fs::create_dir(&ctl).unwrap();
        std::fs::write(ctl.join("t.j2"), "hello {{ x }}\nline2\n").unwrap();
        std::fs::write(ctl.join("f.txt"), "from file\n").unwrap();
        std::fs::create_dir(tmp.path().join("d")).unwrap();
        Env {
            files: TestFiles { dir: ctl },
            conn: LocalConnection::new(),
            tmp,
        }
    }
    fn d(&self, name: &str) -> String {
        self.tmp.path().join("d").join(name).display().to_string()
    }
    async fn run_opts(
        &self,
        m: &dyn Module,
        args: &[(&str, Value)],
        check: bool,
    ) -> Result<ModuleResult, ModuleError> {
        let args: IndexMap<String, Value> = args
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let ctx = ModuleContext {
            conn: &self.conn,
            host: "localhost",
            check_mode: check,
            diff_mode: true,
            become_: None,
            files: &self.files,
        };
        m.run(&args, &ctx).await
    }
    async fn run(&self, m: &dyn Module, args: &[(&str, Value)]) -> ModuleResult {
        self.run_opts(m, args, false).await.unwrap()
    }
}

fn v(s: &str) -> Value {
    Value::from(s)
}

/// (mtime_ns, inode, mode, uid, gid, content) of a path.
fn snap(p: &str) -> Option<(i64, u64, u32, u32, u32, Vec<u8>)> {
    let m = std::fs::symlink_metadata(p).ok()?;
    let c = if m.is_file() {
        std::fs::read(p).ok()?
    } else {
        vec![]
    };
    Some((
        m.mtime_nsec() + m.mtime() * 1_000_000_000,
        m.ino(),
        m.permissions().mode() & 0o7777,
        m.uid(),
        m.gid(),
        c,
    ))
}

/// Runs a task three ways: check mode (changed, nothing touched), real (changed), again (ok,
/// nothing touched). Returns the first real result.
async fn idempotent(
    env: &Env,
    m: &dyn Module,
    args: &[(&str, Value)],
    watch: &str,
) -> ModuleResult {
    let before = snap(watch);
    let check = env.run_opts(m, args, true).await.unwrap();
    assert!(check.changed, "check mode predicts a change");
    assert_eq!(snap(watch), before, "check mode changed nothing");
    let first = env.run(m, args).await;
    assert!(first.changed, "first run changed");
    let after = snap(watch);
    let rt = env.conn.round_trips();
    let second = env.run(m, args).await;
    assert!(!second.changed, "second run ok: {:?}", second.data);
    assert_eq!(snap(watch), after, "second run changed nothing");
    assert_eq!(
        env.conn.round_trips() - rt,
        1,
        "a no-op costs one round trip"
    );
    first
}

#[tokio::test]
async fn copy_content_new_then_noop() {
    let env = Env::new();
    let dest = env.d("c.txt");
    let r = idempotent(
        &env,
        &rig::modules::copy::Copy,
        &[("content", v("abc\n")), ("dest", v(&dest))],
        &dest,
    )
    .await;
    assert_eq!(std::fs::read(&dest).unwrap(), b"abc\n");
    assert_eq!(
        r.data["checksum"].as_str(),
        Some("03cfd743661f07975fa2f1220c5194cbaff48451")
    );
    assert_eq!(
        r.data["md5sum"].as_str(),
        Some("0bee89b07a248e27c83fc3d5951213c1")
    );
    assert_eq!(r.data["mode"].as_str(), Some("0644"));
    assert_eq!(r.diffs[0].before_header, "");
    assert_eq!(r.diffs[0].after_header, dest);
    assert_eq!(r.diffs[0].after, "abc\n");
}

#[tokio::test]
async fn template_renders_and_keeps_existing_attrs() {
    let env = Env::new();
    let dest = env.d("t.txt");
    std::fs::write(&dest, "old\nline2\n").unwrap();
    std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o600)).unwrap();
    let r = idempotent(
        &env,
        &rig::modules::template::Template,
        &[("src", v("t.j2")), ("dest", v(&dest))],
        &dest,
    )
    .await;
    assert_eq!(
        std::fs::read_to_string(&dest).unwrap(),
        "hello world\nline2\n"
    );
    assert_eq!(r.data["mode"].as_str(), Some("0600"));
    assert_eq!(r.diffs[0].before_header, dest);
    assert_eq!(r.diffs[0].before, "old\nline2\n");
    assert!(r.diffs[0].after_header.ends_with("/t.j2"));
}

#[tokio::test]
async fn file_directory_mode() {
    let env = Env::new();
    let dest = env.d("a/b");
    let r = idempotent(
        &env,
        &rig::modules::file::File,
        &[
            ("path", v(&dest)),
            ("state", v("directory")),
            ("mode", v("0750")),
        ],
        &env.d("a"),
    )
    .await;
    assert_eq!(
        std::fs::metadata(&dest).unwrap().permissions().mode() & 0o7777,
        0o750
    );
    assert_eq!(
        std::fs::metadata(env.d("a")).unwrap().permissions().mode() & 0o7777,
        0o750
    );
    assert_eq!(
        r.diffs[0].after,
        format!(
            "{{\n    \"mode\": \"0750\",\n    \"path\": \"{dest}\",\n    \"state\": \"directory\"\n}}\n"
        )
    );
}

// ---- Conformance with real Ansible (tests/modules_files/{cases,expected}.json) ----

fn module_named(name: &str) -> std::sync::Arc<dyn Module> {
    rig::modules::fileops::register_file_modules()
        .into_iter()
        .find(|m| m.name() == name)
        .unwrap_or_else(|| panic!("no module {name}"))
}

fn subst(v: &serde_json::Value, d: &str) -> serde_json::Value {
    match v {
        serde_json::Value::String(s) => serde_json::Value::String(s.replace("@D@", d)),
        serde_json::Value::Object(m) => m.iter().map(|(k, x)| (k.clone(), subst(x, d))).collect(),
        serde_json::Value::Array(a) => a.iter().map(|x| subst(x, d)).collect(),
        o => o.clone(),
    }
}

fn norm(v: &serde_json::Value, d: &str) -> serde_json::Value {
    match v {
        serde_json::Value::String(s) => serde_json::Value::String(s.replace(d, "@D@")),
        serde_json::Value::Object(m) => m.iter().map(|(k, x)| (k.clone(), norm(x, d))).collect(),
        serde_json::Value::Array(a) => a.iter().map(|x| norm(x, d)).collect(),
        o => o.clone(),
    }
}

/// The tree under `d` as the generator records it.
fn tree(d: &Path) -> serde_json::Value {
    fn walk(root: &Path, dir: &Path, out: &mut serde_json::Map<String, serde_json::Value>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let re = fancy_regex::Regex::new(r"\.\d+\.\d{4}-\d\d-\d\d@\d\d:\d\d:\d\d~$").unwrap();
            let rel = re.replace(&rel, ".BACKUP~").into_owned();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let user = |uid: u32| match uid {
                0 => "root".to_string(),
                65534 => "nobody".into(),
                n => n.to_string(),
            };
            let group = |gid: u32| match gid {
                0 => "root".to_string(),
                65534 => "nogroup".into(),
                n => n.to_string(),
            };
            let mut e = serde_json::json!({
                "mode": format!("{:04o}", m.permissions().mode() & 0o7777),
                "owner": user(m.uid()),
                "group": group(m.gid()),
            });
            if m.file_type().is_symlink() {
                e["type"] = "link".into();
                e["target"] = std::fs::read_link(&p).unwrap().display().to_string().into();
                e.as_object_mut().unwrap().remove("mode");
            } else if m.is_dir() {
                e["type"] = "directory".into();
            } else {
                use base64::Engine;
                e["type"] = "file".into();
                e["nlink"] = m.nlink().into();
                e["content"] = base64::engine::general_purpose::STANDARD
                    .encode(std::fs::read(&p).unwrap())
                    .into();
            }
            out.insert(rel, e);
            if m.is_dir() {
                walk(root, &p, out);
            }
        }
    }
    let mut out = serde_json::Map::new();
    walk(d, d, &mut out);
    serde_json::Value::Object(out)
}

/// (mtime, inode) of every entry, to prove a second run touched nothing.
fn stamps(d: &Path) -> Vec<(String, i64, i64, u64)> {
    let mut v = Vec::new();
    for e in walk_all(d) {
        let m = std::fs::symlink_metadata(&e).unwrap();
        v.push((e.display().to_string(), m.mtime(), m.mtime_nsec(), m.ino()));
    }
    v
}

fn walk_all(d: &Path) -> Vec<PathBuf> {
    let mut out = vec![d.to_path_buf()];
    if std::fs::symlink_metadata(d)
        .map(|m| m.is_dir())
        .unwrap_or(false)
    {
        let mut es: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        es.sort();
        for e in es {
            out.extend(walk_all(&e));
        }
    }
    out
}

/// A run summarized like the generator's `summarize`.
fn summarize(r: Result<ModuleResult, ModuleError>, d: &str) -> serde_json::Value {
    let (status, changed, msg, diffs, data) = match r {
        Ok(r) => (
            if r.failed { "failed" } else { "ok" },
            r.changed,
            r.msg.clone(),
            r.diffs.clone(),
            r.data.clone(),
        ),
        Err(ModuleError::Failed { message, data }) => {
            ("failed", false, Some(message), vec![], data)
        }
        Err(e) => (
            "failed",
            false,
            Some(e.to_string()),
            vec![],
            IndexMap::new(),
        ),
    };
    let diffs: Vec<serde_json::Value> = diffs
        .iter()
        .filter(|x| x.before != x.after)
        .map(|x| {
            let h = |h: &str| {
                if !h.is_empty() && !h.contains(d) {
                    format!("@SRC@/{}", h.rsplit('/').next().unwrap_or(h))
                } else {
                    h.replace(d, "@D@")
                }
            };
            serde_json::json!({
                "before_header": h(&x.before_header),
                "after_header": h(&x.after_header),
                "before": x.before.replace(d, "@D@"),
                "after": x.after.replace(d, "@D@"),
            })
        })
        .collect();
    let data: serde_json::Map<String, serde_json::Value> = data
        .iter()
        .map(|(k, v)| (k.clone(), norm(&serde_json::to_value(v).unwrap(), d)))
        .collect();
    serde_json::json!({
        "status": status,
        "changed": changed,
        "msg": msg.map(|m| m.replace(d, "@D@")),
        "diffs": diffs,
        "data": data,
    })
}

/// Compares rig's summary with Ansible's; returns the differences.
fn compare(
    case: &str,
    phase: &str,
    ours: &serde_json::Value,
    theirs: &serde_json::Value,
) -> Vec<String> {
    let mut errs = Vec::new();
    for key in ["status", "changed", "diffs"] {
        if ours[key] != theirs[key] {
            errs.push(format!(
                "{case} [{phase}] {key}: rig {} != ansible {}",
                ours[key], theirs[key]
            ));
        }
    }
    if !theirs["msg"].is_null() && ours["msg"] != theirs["msg"] {
        errs.push(format!(
            "{case} [{phase}] msg: rig {} != ansible {}",
            ours["msg"], theirs["msg"]
        ));
    }
    if let Some(fields) = theirs["fields"].as_object() {
        for (k, v) in fields {
            if ours["data"][k] != *v {
                errs.push(format!(
                    "{case} [{phase}] field {k}: rig {} != ansible {v}",
                    ours["data"][k]
                ));
            }
        }
    }
    let our_backup = ours["data"]["backup_file"]
        .as_str()
        .or(ours["data"]["backup"].as_str());
    if theirs["backup"] == true && our_backup.is_none_or(str::is_empty) {
        errs.push(format!("{case} [{phase}] no backup file reported"));
    }
    if let Some(st) = theirs["stat"].as_object() {
        let volatile = ["atime", "mtime", "ctime", "inode", "dev", "version"];
        for (k, v) in st {
            if !volatile.contains(&k.as_str()) && ours["data"]["stat"][k] != *v {
                errs.push(format!(
                    "{case} [{phase}] stat.{k}: rig {} != ansible {v}",
                    ours["data"]["stat"][k]
                ));
            }
        }
    }
    errs
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

#[tokio::test]
async fn conformance_with_ansible() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/modules_files");
    let cases: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(here.join("cases.json")).unwrap()).unwrap();
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(here.join("expected.json")).unwrap())
            .unwrap();
    let only = std::env::var("RIG_CASE").ok();
    let mut errs = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        // Changing owners needs root; the recorded cases ran as root.
        let needs_root = ["owner", "group"]
            .iter()
            .any(|k| case["args"].get(k).is_some());
        if needs_root && !running_as_root() {
            eprintln!("skipping {name}: needs root");
            continue;
        }
        let exp = &expected[name];
        let tmp = tempfile::tempdir().unwrap();
        let dpath = tmp.path().join(name);
        std::fs::create_dir(&dpath).unwrap();
        let d = dpath.display().to_string();
        for f in case["setup"].as_array().into_iter().flatten() {
            let p = dpath.join(f["path"].as_str().unwrap());
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            if let Some(target) = f["link"].as_str() {
                std::os::unix::fs::symlink(target, &p).unwrap();
                continue;
            }
            std::fs::write(&p, f["content"].as_str().unwrap()).unwrap();
            let mode = u32::from_str_radix(f["mode"].as_str().unwrap(), 8).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        let args: IndexMap<String, Value> = subst(&case["args"], &d)
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(minijinja::value::Serde(v.clone()))))
            .collect();
        let module = module_named(case["module"].as_str().unwrap());
        let conn = LocalConnection::new();
        let files = TestFiles {
            dir: here.join("controller"),
        };
        let run = |check: bool| {
            let ctx = ModuleContext {
                conn: &conn,
                host: "localhost",
                check_mode: check,
                diff_mode: true,
                become_: None,
                files: &files,
            };
            let module = module.clone();
            let args = args.clone();
            async move { module.run(&args, &ctx).await }
        };
        // (3) check mode predicts, changes nothing.
        let before = stamps(&dpath);
        let tree_before = tree(&dpath);
        let rt0 = conn.round_trips();
        let check = summarize(run(true).await, &d);
        if conn.round_trips() - rt0 > 1 {
            errs.push(format!(
                "{name} [check] cost {} round trips",
                conn.round_trips() - rt0
            ));
        }
        errs.extend(compare(name, "check", &check, &exp["check"]));
        if stamps(&dpath) != before || tree(&dpath) != tree_before {
            errs.push(format!("{name} [check] changed the filesystem"));
        }
        // (1) first run changes; (5) the state equals Ansible's.
        let rt1 = conn.round_trips();
        let first = summarize(run(false).await, &d);
        // A change is one probe and one apply (directory trees write file by file).
        let trips = conn.round_trips() - rt1;
        if trips > 2 && !name.starts_with("copy_tree") {
            errs.push(format!("{name} [first] cost {trips} round trips"));
        }
        errs.extend(compare(name, "first", &first, &exp["first"]));
        let t = norm(&tree(&dpath), &d);
        if t != exp["tree"] {
            errs.push(format!("{name} [tree] rig {t} != ansible {}", exp["tree"]));
        }
        // (2) second run: as Ansible (ok, unless touch), nothing touched, one round trip.
        let after = stamps(&dpath);
        let rt = conn.round_trips();
        let second = summarize(run(false).await, &d);
        errs.extend(compare(name, "second", &second, &exp["second"]));
        if second["changed"] == false && second["status"] == "ok" {
            if stamps(&dpath) != after {
                errs.push(format!("{name} [second] an ok run touched the filesystem"));
            }
            let trips = conn.round_trips() - rt;
            // Every module's no-op is one probe (the brief asks it of copy/template/file).
            if second["status"] == "ok" && trips != 1 {
                errs.push(format!("{name} [second] a no-op cost {trips} round trips"));
            }
        }
    }
    assert!(
        errs.is_empty(),
        "{} differences:\n{}",
        errs.len(),
        errs.join("\n")
    );
}

#[tokio::test]
async fn validate_runs_without_a_shell_and_failure_leaves_nothing() {
    let env = Env::new();
    let dest = env.d("v.conf");
    // With a shell, `;` would end the grep command and the check would fail.
    let ok = env
        .run(
            &rig::modules::copy::Copy,
            &[
                ("content", v("a;b\n")),
                ("dest", v(&dest)),
                ("validate", v("grep -q ; %s")),
            ],
        )
        .await;
    assert!(ok.changed && !ok.failed, "{:?}", ok.msg);
    let bad = env
        .run(
            &rig::modules::copy::Copy,
            &[
                ("content", v("new\n")),
                ("dest", v(&dest)),
                ("validate", v("/bin/sh -c 'echo nope >&2; exit 4' %s")),
            ],
        )
        .await;
    assert!(bad.failed);
    assert_eq!(bad.msg.as_deref(), Some("failed to validate"));
    assert_eq!(bad.data["stderr"].as_str(), Some("nope\n"));
    assert_eq!(i64::try_from(bad.data["exit_status"].clone()).ok(), Some(4));
    assert_eq!(std::fs::read(&dest).unwrap(), b"a;b\n");
    let names: Vec<String> = std::fs::read_dir(env.d(""))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        vec!["v.conf".to_string()],
        "no temp file left behind"
    );
}

#[tokio::test]
async fn tempfile_file_and_directory() {
    let env = Env::new();
    let m = rig::modules::tempfile::TempFile;
    let r = env
        .run(
            &m,
            &[
                ("path", v(&env.d(""))),
                ("prefix", v("rig.")),
                ("suffix", v(".x")),
            ],
        )
        .await;
    let path = r.data["path"].as_str().unwrap().to_string();
    assert!(r.changed);
    assert!(
        path.starts_with(&env.d("rig.")) && path.ends_with(".x"),
        "{path}"
    );
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(r.data["state"].as_str(), Some("file"));
    let r = env
        .run(&m, &[("path", v(&env.d(""))), ("state", v("directory"))])
        .await;
    let path = r.data["path"].as_str().unwrap().to_string();
    assert!(std::fs::metadata(&path).unwrap().is_dir());
    assert!(path.contains("/ansible."));
    assert_eq!(r.data["mode"].as_str(), Some("0700"));
}

#[tokio::test]
async fn large_or_binary_files_get_no_diff() {
    let env = Env::new();
    let dest = env.d("big");
    std::fs::write(&dest, vec![b'a'; 200_000]).unwrap();
    let r = env
        .run(
            &rig::modules::copy::Copy,
            &[("content", v("small\n")), ("dest", v(&dest))],
        )
        .await;
    assert!(r.changed);
    assert!(r.diffs.is_empty());
}

#[tokio::test]
async fn setuid_mode_survives_owner_change() {
    if !running_as_root() {
        return;
    }
    let env = Env::new();
    let dest = env.d("suid");
    let r = env
        .run(
            &rig::modules::copy::Copy,
            &[
                ("content", v("#!/bin/sh\n")),
                ("dest", v(&dest)),
                ("owner", v("nobody")),
                ("mode", v("04755")),
            ],
        )
        .await;
    assert!(r.changed && !r.failed, "{:?}", r.msg);
    let m = std::fs::metadata(&dest).unwrap();
    assert_eq!(m.permissions().mode() & 0o7777, 0o4755);
    assert_eq!(m.uid(), 65534);
}

#[tokio::test]
async fn copy_content_into_a_directory_is_refused() {
    let env = Env::new();
    let err = env
        .run_opts(
            &rig::modules::copy::Copy,
            &[
                ("content", v("x")),
                ("dest", v(&format!("{}/", env.d("sub")))),
            ],
            false,
        )
        .await
        .unwrap_err();
    // Ansible: "can not use content with a dir as dest".
    assert_eq!(err.to_string(), "can not use content with a dir as dest");
    assert_eq!(env.conn.round_trips(), 0);
}
