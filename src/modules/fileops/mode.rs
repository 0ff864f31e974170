//! Modes: octal, YAML ints and symbolic modes resolved as Ansible's `_symbolic_mode_to_octal`.

use super::*;

/// A requested mode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModeArg {
    Octal(u32),
    Symbolic(String),
    /// copy/template `mode: preserve`: the source file's mode.
    Preserve,
}

impl ModeArg {
    pub fn parse(s: &str) -> Result<ModeArg, ModuleError> {
        let s = s.trim();
        if s == "preserve" {
            return Ok(ModeArg::Preserve);
        }
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            return u32::from_str_radix(s, 8)
                .ok()
                .filter(|m| *m <= 0o7777)
                .map(ModeArg::Octal)
                .ok_or_else(|| {
                    ModuleError::Args(format!("mode must be in octal or symbolic form: {s}"))
                });
        }
        // Validate now so a bad mode fails before touching the host.
        apply_symbolic(s, 0, false, 0o022)?;
        Ok(ModeArg::Symbolic(s.to_string()))
    }

    /// The permission bits this mode gives a path whose current mode is `current`.
    pub fn resolve(&self, current: u32, is_dir: bool, umask: u32) -> Result<u32, ModuleError> {
        match self {
            ModeArg::Octal(m) => Ok(*m),
            ModeArg::Symbolic(s) => apply_symbolic(s, current, is_dir, umask),
            ModeArg::Preserve => Ok(current),
        }
    }
}

/// Applies a chmod-style symbolic mode (`u=rw,g+r,o-rwx`, `a+X`) to `current`, as Ansible's
/// `_symbolic_mode_to_octal` does.
pub fn apply_symbolic(
    spec: &str,
    current: u32,
    is_dir: bool,
    umask: u32,
) -> Result<u32, ModuleError> {
    let bad = || ModuleError::Args(format!("bad symbolic permission for mode: {spec}"));
    let mut mode = current & 0o7777;
    for clause in spec.split(',') {
        let op_pos = clause.find(['=', '+', '-']).ok_or_else(bad)?;
        let (who, rest) = clause.split_at(op_pos);
        if !who.chars().all(|c| "ugoa".contains(c)) {
            return Err(bad());
        }
        let who = if who.is_empty() { "a" } else { who };
        let use_umask = clause.starts_with(['=', '+', '-']);
        // A clause may hold several operations: `u+r-w`.
        let mut ops: Vec<(char, String)> = Vec::new();
        for c in rest.chars() {
            if "=+-".contains(c) {
                ops.push((c, String::new()));
            } else if "rwxXstugo".contains(c) {
                ops.last_mut().ok_or_else(bad)?.1.push(c);
            } else {
                return Err(bad());
            }
        }
        for (op, perms) in ops {
            for w in who.chars() {
                let users: &[char] = match w {
                    'a' => &['u', 'g', 'o'],
                    'u' => &['u'],
                    'g' => &['g'],
                    _ => &['o'],
                };
                for &u in users {
                    let bits = perm_bits(u, &perms, mode, is_dir, use_umask.then_some(umask));
                    let mask = user_mask(u);
                    mode = match op {
                        '=' => (mode & !mask) | bits,
                        '+' => mode | bits,
                        _ => mode & !bits,
                    };
                }
            }
        }
    }
    Ok(mode)
}

fn user_mask(u: char) -> u32 {
    match u {
        'u' => 0o4700,
        'g' => 0o2070,
        _ => 0o1007,
    }
}

/// The bits one `perms` string gives user class `u`, as Ansible's
/// `_get_octal_mode_from_symbolic_perms`: the umask (when no class was named) masks r/w/x
/// only; `u`/`g`/`o` copy another class's current bits.
fn perm_bits(u: char, perms: &str, mode: u32, is_dir: bool, umask: Option<u32>) -> u32 {
    let shift = match u {
        'u' => 6,
        'g' => 3,
        _ => 0,
    };
    let keep = !umask.unwrap_or(0);
    let mut bits = 0;
    for p in perms.chars() {
        bits |= match p {
            'r' => (4 << shift) & keep,
            'w' => (2 << shift) & keep,
            'x' => (1 << shift) & keep,
            'X' if is_dir || mode & 0o111 != 0 => 1 << shift,
            's' if u == 'u' => 0o4000,
            's' if u == 'g' => 0o2000,
            't' if u == 'o' => 0o1000,
            'u' => ((mode & 0o700) >> 6) << shift,
            'g' => ((mode & 0o070) >> 3) << shift,
            'o' => (mode & 0o007) << shift,
            _ => 0,
        };
    }
    bits
}

/// Formats permission bits as Ansible does (`0644`).
pub fn fmt_mode(mode: u32) -> String {
    format!("{:04o}", mode & 0o7777)
}
