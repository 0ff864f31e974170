//! Passwords from the command line: vault secrets (`--vault-password-file`, `--vault-id`,
//! `--ask-vault-pass`, ansible.cfg's `vault_password_file`) and the become password (`-K`).
//! Prompts read from the terminal without echo; no password is ever printed or logged.

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
        secrets.push(VaultSecret {
            id: label,
            password: password.into_bytes(),
        });
    }
    if o.ask_vault_pass {
        secrets.push(VaultSecret {
            id: "default".into(),
            password: prompt("Vault password: ")?.into_bytes(),
        });
    }
    crate::vault::set_secrets(secrets);
    if o.ask_become_pass {
        config.become_password = Some(prompt("BECOME password: ")?);
    }
    Ok(())
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

fn prompt(text: &str) -> Result<String, SecretError> {
    rpassword::prompt_password(text).map_err(|e| {
        SecretError(format!(
            "cannot read a password from the terminal ({e}); use a password file instead"
        ))
    })
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
