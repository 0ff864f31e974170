//! Passwords from the command line: vault secrets (`--vault-password-file`, `--vault-id`,
//! `--ask-vault-pass`, ansible.cfg's `vault_password_file`), the connection password (`-k`) and
//! the become password (`-K`). Prompts read from the terminal without echo; without a
//! controlling terminal they read a line of stdin, as Python's `getpass` (and so
//! ansible-playbook) does. No password is ever printed or logged: typed passwords are
//! registered as secrets, masked in all output (`crate::report::redact`).
//!
//! [`askpass_main`] is the hidden mode in which ssh runs rig as its `SSH_ASKPASS` program to
//! log in with a password (see `crate::connection::ssh`).

use crate::cli::RunOptions;
use crate::config::Config;
use crate::vault::VaultSecret;
use std::path::Path;

/// A password could not be obtained.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SecretError(String);

/// Reads the run's vault secrets and sets them for the loaders; fills `config.become_password`
/// when `-K` was given.
pub fn setup(o: &RunOptions, config: &mut Config) -> Result<(), SecretError> {
    let mut secrets = Vec::new();
    let mut files: Vec<(String, String)> = o
        .vault_password_files
        .iter()
        .map(|f| ("default".to_string(), f.clone()))
        .collect();
    if files.is_empty()
        && o.vault_ids.is_empty()
        && let Some(f) = &config.vault_password_file
    {
        files.push(("default".into(), f.clone()));
    }
    for id in o.vault_ids.iter().chain(config.vault_identity_list.iter()) {
        match id.split_once('@') {
            Some((label, source)) => files.push((label.to_string(), source.to_string())),
            None => files.push(("default".to_string(), id.clone())),
        }
    }
    for (label, source) in files {
        let password = if source == "prompt" {
            prompt(&format!("Vault password ({label}): "))?
        } else {
            read_password_file(Path::new(&source))?
        };
        crate::vault::remember_secret(&password);
        secrets.push(VaultSecret {
            id: label,
            password: password.into_bytes(),
        });
    }
    if o.ask_vault_pass {
        let password = prompt("Vault password: ")?;
        crate::vault::remember_secret(&password);
        secrets.push(VaultSecret {
            id: "default".into(),
            password: password.into_bytes(),
        });
    }
    crate::vault::set_secrets(secrets);
    crate::report::redact::set_enabled(!o.show_secrets);
    if o.ask_pass {
        let pw = prompt("SSH password: ")?;
        crate::vault::remember_secret(&pw);
        config.remote_password = Some(pw);
    }
    // ansible.cfg's `become_ask_pass = True` asks as -K does.
    if o.ask_become_pass || config.become_ask_pass == Some(true) {
        let pw = if o.ask_pass {
            // As Ansible: an empty answer reuses the SSH password.
            let pw = prompt("BECOME password[defaults to SSH password]: ")?;
            if pw.is_empty() {
                config.remote_password.clone().unwrap_or_default()
            } else {
                pw
            }
        } else {
            prompt("BECOME password: ")?
        };
        crate::vault::remember_secret(&pw);
        config.become_password = Some(pw);
    }
    Ok(())
}

/// The environment variable naming the file that holds the password for [`askpass_main`].
pub const ASKPASS_FILE_ENV: &str = "RIG_ASKPASS_FILE";

/// The hidden `SSH_ASKPASS` mode. When rig is started with [`ASKPASS_FILE_ENV`] set and one
/// argument (ssh's prompt), it prints the password from that file (a 0600 file in the 0700
/// directory of the connection, removed by the connection as soon as ssh has logged in) and
/// returns the exit code. Only password prompts are answered: a host key question or a key
/// passphrase prompt gets exit 1, which ssh takes as "no".
pub fn askpass_main() -> Option<i32> {
    let file = std::env::var_os(ASKPASS_FILE_ENV)?;
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if args.len() != 1 {
        return None;
    }
    let prompt = args[0].to_string_lossy().to_ascii_lowercase();
    if !prompt.contains("password") || prompt.contains("passphrase") {
        return Some(1);
    }
    let Ok(pw) = std::fs::read(&file) else {
        return Some(1);
    };
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let ok = out.write_all(&pw).is_ok() && out.write_all(b"\n").is_ok() && out.flush().is_ok();
    Some(if ok { 0 } else { 1 })
}

/// A password file: its first line, or, when it is executable, what it prints (Ansible's
/// "vault password client script").
pub fn read_password_file(path: &Path) -> Result<String, SecretError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| {
        SecretError(format!(
            "The vault password file {} was not found: {e}",
            path.display()
        ))
    })?;
    let text = if meta.permissions().mode() & 0o111 != 0 {
        let out = std::process::Command::new(path).output().map_err(|e| {
            SecretError(format!(
                "Problem running vault password script {}: {e}",
                path.display()
            ))
        })?;
        if !out.status.success() {
            return Err(SecretError(format!(
                "Vault password script {} returned non-zero ({})",
                path.display(),
                out.status.code().unwrap_or(-1)
            )));
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    } else {
        std::fs::read_to_string(path)
            .map_err(|e| SecretError(format!("could not read {}: {e}", path.display())))?
    };
    let first = text
        .lines()
        .next()
        .unwrap_or("")
        .trim_end_matches('\r')
        .to_string();
    if first.is_empty() {
        return Err(SecretError(format!(
            "Invalid vault password was provided from file ({})",
            path.display()
        )));
    }
    Ok(first)
}

/// Prompts on the controlling terminal without echo; without one, reads a line of stdin after
/// the warning Python's `getpass` prints (what ansible-playbook does then).
fn prompt(text: &str) -> Result<String, SecretError> {
    let has_tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .is_ok();
    if has_tty {
        return rpassword::prompt_password(text).map_err(|e| {
            SecretError(format!(
                "cannot read a password from the terminal ({e}); use a password file instead"
            ))
        });
    }
    use std::io::{BufRead, Write};
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "Warning: Password input may be echoed.\n{text}");
    let _ = err.flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| SecretError(format!("cannot read a password from stdin: {e}")))?;
    let _ = writeln!(err);
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_file_first_line_and_executable_script() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("pw");
        std::fs::write(&plain, "s3cret\nignored\n").unwrap();
        assert_eq!(read_password_file(&plain).unwrap(), "s3cret");
        let script = dir.path().join("pw.sh");
        std::fs::write(&script, "#!/bin/sh\necho from-script\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(read_password_file(&script).unwrap(), "from-script");
        assert!(read_password_file(&dir.path().join("missing")).is_err());
    }
}
