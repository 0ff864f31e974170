//! Python's `shlex.split(s, comments=True, posix=True)`, as Ansible's INI plugin splits host
//! lines.

/// Splits like `shlex.split(line, comments=True)`; `Err` carries Python's message.
pub(crate) fn split(line: &str) -> Result<Vec<String>, String> {
    #[derive(PartialEq)]
    enum State {
        Space,
        Word,
        Single,
        Double,
    }
    let mut tokens = Vec::new();
    let mut token = String::new();
    let mut quoted = false;
    let mut state = State::Space;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match state {
            State::Space | State::Word => match c {
                c if c.is_whitespace() && matches!(c, ' ' | '\t' | '\r' | '\n') => {
                    if state == State::Word {
                        tokens.push(std::mem::take(&mut token));
                        quoted = false;
                    }
                    state = State::Space;
                }
                '#' => {
                    // A comment runs to the end of the line.
                    break;
                }
                '\'' => state = State::Single,
                '"' => state = State::Double,
                '\\' => match chars.next() {
                    Some(n) => {
                        token.push(n);
                        state = State::Word;
                    }
                    None => return Err("No escaped character".into()),
                },
                c => {
                    token.push(c);
                    state = State::Word;
                }
            },
            State::Single => {
                if c == '\'' {
                    quoted = true;
                    state = State::Word;
                } else {
                    token.push(c);
                }
            }
            State::Double => match c {
                '"' => {
                    quoted = true;
                    state = State::Word;
                }
                '\\' => match chars.next() {
                    Some(n @ ('"' | '\\')) => token.push(n),
                    Some(n) => {
                        token.push('\\');
                        token.push(n);
                    }
                    None => return Err("No escaped character".into()),
                },
                c => token.push(c),
            },
        }
    }
    match state {
        State::Single | State::Double => return Err("No closing quotation".into()),
        State::Word => tokens.push(token),
        State::Space => {
            if quoted {
                tokens.push(token);
            }
        }
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn splits_like_python_shlex() {
        assert_eq!(
            split(r#"h a=1 c="quoted str" d='x y' e=a\ b # comment"#).unwrap(),
            vec!["h", "a=1", "c=quoted str", "d=x y", "e=a b"]
        );
        assert_eq!(split("a=b#c").unwrap(), vec!["a=b"]);
        assert_eq!(split(r#"x="a\"b\n""#).unwrap(), vec![r#"x=a"b\n"#]);
        assert_eq!(split("''").unwrap(), vec![""]);
        assert!(split("a='b").is_err());
    }
}
