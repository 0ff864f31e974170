//! Remote file helpers shared by the file modules: argument reading, modes, the one-round-trip
//! probe of a set of paths, and the atomic write (temp file in the destination's directory,
//! attributes, `validate`, fsync, rename) done in one round trip.
//!
//! Only POSIX sh and coreutils run on the target (stat, sha1sum, md5sum, base64, mktemp, mv...).

use super::{Args, ModuleContext, ModuleError};
use crate::connection::Command;
use crate::connection::local::shell_quote;
use base64::Engine;
use indexmap::IndexMap;
use minijinja::Value;
use sha1::Digest;

mod args;
mod attrs;
mod diff;
mod mode;
mod probe;
mod text;
mod write;

pub use args::*;
pub use attrs::*;
pub use diff::*;
pub use mode::*;
pub use probe::*;
pub use text::*;
pub use write::*;

/// The file modules, for the engine's registry.
pub fn register_file_modules() -> Vec<std::sync::Arc<dyn crate::modules::Module>> {
    vec![
        std::sync::Arc::new(crate::modules::copy::Copy),
        std::sync::Arc::new(crate::modules::template::Template),
        std::sync::Arc::new(crate::modules::file::File),
        std::sync::Arc::new(crate::modules::lineinfile::LineInFile),
        std::sync::Arc::new(crate::modules::blockinfile::BlockInFile),
        std::sync::Arc::new(crate::modules::replace::Replace),
        std::sync::Arc::new(crate::modules::stat::StatModule),
        std::sync::Arc::new(crate::modules::slurp::Slurp),
        std::sync::Arc::new(crate::modules::tempfile::TempFile),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbolic_modes() {
        assert_eq!(
            apply_symbolic("u=rw,g=r,o=", 0o777, false, 0o022).unwrap(),
            0o640
        );
        assert_eq!(apply_symbolic("u+x", 0o644, false, 0o022).unwrap(), 0o744);
        assert_eq!(apply_symbolic("a+X", 0o644, true, 0o022).unwrap(), 0o755);
        assert_eq!(apply_symbolic("a+X", 0o644, false, 0o022).unwrap(), 0o644);
        assert_eq!(
            apply_symbolic("go-rwx", 0o755, false, 0o022).unwrap(),
            0o700
        );
        assert_eq!(
            apply_symbolic("u=rwx,g=rx,o=rx", 0, true, 0o022).unwrap(),
            0o755
        );
        assert!(apply_symbolic("z=r", 0, false, 0o022).is_err());
        // No class named: the umask masks r/w/x.
        assert_eq!(apply_symbolic("=rw", 0, false, 0o022).unwrap(), 0o644);
        assert_eq!(apply_symbolic("g=u", 0o700, false, 0o022).unwrap(), 0o770);
    }

    #[test]
    fn mode_arg_forms() {
        assert_eq!(ModeArg::parse("0640").unwrap(), ModeArg::Octal(0o640));
        assert_eq!(ModeArg::parse("644").unwrap(), ModeArg::Octal(0o644));
        assert!(matches!(
            ModeArg::parse("u=rw").unwrap(),
            ModeArg::Symbolic(_)
        ));
        assert!(ModeArg::parse("0999").is_err());
    }

    #[test]
    fn shlex() {
        assert_eq!(
            shell_split(r#"/bin/sh -c 'grep -q "x y" %s' a\ b"#).unwrap(),
            vec!["/bin/sh", "-c", "grep -q \"x y\" %s", "a b"]
        );
        assert!(shell_split("a 'b").is_err());
    }

    #[test]
    fn validate_words() {
        assert_eq!(
            validate_argv("visudo -cf %s").unwrap(),
            "set -- visudo -cf \"$tmp\""
        );
        assert_eq!(
            validate_argv("x --file=%s 100%%").unwrap(),
            "set -- x --file=\"$tmp\" 100%"
        );
        assert!(validate_argv("true").is_err());
    }

    #[test]
    fn parses_probe() {
        let reqs = [ProbeReq::checksum("/a"), ProbeReq::stat("/b")];
        let out = "umask=0022\nuid=0\n@@0\ns=81a4 0 0 5 12 1700000000 1 root root\nh=abc\n@@1\n";
        let p = parse_probe(&reqs, out).unwrap();
        assert_eq!(p.umask, 0o022);
        assert_eq!(p.files[0].stat.kind, Kind::File);
        assert_eq!(p.files[0].stat.mode, 0o644);
        assert_eq!(p.files[0].sha1.as_deref(), Some("abc"));
        assert!(!p.files[1].exists());
        let out = "@@0\ns=81a4 1234 4321 5 12 1700000000 1 UNKNOWN UNKNOWN\n";
        let p = parse_probe(&reqs, out).unwrap();
        assert_eq!(p.files[0].stat.owner, "1234");
        assert_eq!(p.files[0].stat.group, "4321");
    }

    #[test]
    fn sha1sum_line_gives_the_digest() {
        let reqs = [ProbeReq::checksum("/a")];
        let p = parse_probe(
            &reqs,
            "@@0\nh=da39a3ee5e6b4b0d3255bfef95601890afd80709  -\n",
        )
        .unwrap();
        assert_eq!(
            p.files[0].sha1.as_deref(),
            Some("da39a3ee5e6b4b0d3255bfef95601890afd80709")
        );
    }

    /// The probe script itself under /bin/sh: the same umask, ids, stat, digest and link target
    /// as coreutils report one process at a time.
    #[test]
    fn probe_script_agrees_with_coreutils() {
        use std::os::unix::fs::PermissionsExt;
        let sh = |script: &str| {
            let out = std::process::Command::new("/bin/sh")
                .args(["-c", script])
                .env("LC_ALL", "C")
                .output()
                .unwrap();
            assert!(out.status.success(), "{script}: {out:?}");
            String::from_utf8(out.stdout).unwrap()
        };
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, "hello\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).unwrap();
        let l = dir.path().join("l");
        std::os::unix::fs::symlink(&f, &l).unwrap();
        let (f, l) = (f.display().to_string(), l.display().to_string());
        let missing = format!("{}/missing", dir.path().display());
        let reqs = [
            ProbeReq::checksum(&f),
            ProbeReq::stat(&l),
            ProbeReq::checksum(&missing),
        ];
        let p = parse_probe(&reqs, &sh(&probe_script(&reqs, ""))).unwrap();
        let num = |s: String| s.trim().parse::<u32>().unwrap();
        assert_eq!(p.uid, num(sh("id -u")));
        assert_eq!(p.gid, num(sh("id -g")));
        assert_eq!(p.umask, u32::from_str_radix(sh("umask").trim(), 8).unwrap());
        let file = &p.files[0];
        assert_eq!(file.stat.kind, Kind::File);
        assert_eq!(file.stat.mode, 0o640);
        assert_eq!(file.stat.size, 6);
        assert_eq!(file.stat.owner, sh(&format!("stat -c %U {f}")).trim());
        // sha1("hello\n")
        assert_eq!(
            file.sha1.as_deref(),
            Some("f572d396fae9206628714fb2ce00f72e94f2258f")
        );
        let link = &p.files[1];
        assert_eq!(link.stat.kind, Kind::Link);
        assert_eq!(link.link_target.as_deref(), Some(f.as_str()));
        assert_eq!(link.target.as_ref().map(|t| t.kind), Some(Kind::File));
        assert!(!p.files[2].exists());
        assert_eq!(p.files[2].sha1, None);
    }

    #[test]
    fn dirs() {
        assert_eq!(parent_dir("/a/b"), "/a");
        assert_eq!(parent_dir("/a"), "/");
        assert_eq!(parent_dir("a"), ".");
        assert_eq!(basename("/a/b/"), "b");
    }
}
