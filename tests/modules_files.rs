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
        "{\n    \"path\": \"".to_string() + &dest + "\",\n    \"state\": \"directory\"\n}\n"
    );
}
