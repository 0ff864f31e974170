//! Typed task arguments, read as Ansible's argument spec does.

use super::*;

/// Reads typed arguments the way Ansible's argument spec does.
pub struct ArgReader<'a> {
    args: &'a Args,
    module: &'static str,
}

impl<'a> ArgReader<'a> {
    pub fn new(module: &'static str, args: &'a Args) -> Self {
        ArgReader { args, module }
    }

    fn raw(&self, names: &[&str]) -> Option<&'a Value> {
        names
            .iter()
            .filter_map(|n| self.args.get(*n))
            .find(|v| !v.is_none() && !v.is_undefined())
    }

    /// A string argument (numbers and booleans are converted as Ansible does).
    pub fn str(&self, names: &[&str]) -> Option<String> {
        self.raw(names).map(|v| match v.as_str() {
            Some(s) => s.to_string(),
            None => v.to_string(),
        })
    }

    pub fn req_str(&self, names: &[&str]) -> Result<String, ModuleError> {
        self.str(names).ok_or_else(|| {
            ModuleError::Args(format!(
                "missing required arguments: {} (module {})",
                names[0], self.module
            ))
        })
    }

    /// The argument's value, if given and not null.
    pub fn raw_value(&self, name: &str) -> Option<Value> {
        self.raw(&[name]).cloned()
    }

    /// Whether an argument is present (even if null).
    pub fn has(&self, name: &str) -> bool {
        self.raw(&[name]).is_some()
    }

    /// A boolean argument with Ansible's spellings (yes/no, true/false, on/off, 1/0).
    pub fn bool(&self, names: &[&str], default: bool) -> Result<bool, ModuleError> {
        let Some(v) = self.raw(names) else {
            return Ok(default);
        };
        if let Some(s) = v.as_str() {
            return match s.to_ascii_lowercase().as_str() {
                "yes" | "true" | "on" | "1" | "y" | "t" => Ok(true),
                "no" | "false" | "off" | "0" | "n" | "f" | "" => Ok(false),
                _ => Err(ModuleError::Args(format!(
                    "argument '{}' is of type str and we were unable to convert to bool: \
                     The value '{s}' is not a valid boolean.",
                    names[0]
                ))),
            };
        }
        Ok(v.is_true())
    }

    /// The `mode` argument: an int (YAML `0644` = 420), an octal string or a symbolic mode.
    pub fn mode(&self, name: &str) -> Result<Option<ModeArg>, ModuleError> {
        let Some(v) = self.raw(&[name]) else {
            return Ok(None);
        };
        if let Some(s) = v.as_str() {
            return ModeArg::parse(s).map(Some);
        }
        match i64::try_from(v.clone()) {
            Ok(n) if (0..=0o7777).contains(&n) => Ok(Some(ModeArg::Octal(n as u32))),
            _ => Err(ModuleError::Args(format!(
                "bad symbolic permission for mode: {v}"
            ))),
        }
    }
}
