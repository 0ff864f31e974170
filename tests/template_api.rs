//! The Templar API other stages build on: native values for single expressions (2.19),
//! the no-template fast path, `!unsafe` (safe strings) left alone, bare expressions, and
//! errors that carry file:line:col and name the culprit.

use minijinja::Value;
use rig::template::{Templar, TemplateOptions};

fn ctx() -> Value {
    rig::template::yamlload::load("n: 7\nl: [1, a]\ns: hi\nd: {k: v}\nnone_v: null\n").unwrap()
}

#[test]
fn single_expression_keeps_native_type() {
    let t = Templar::new();
    let c = ctx();
    assert_eq!(t.template_value("{{ n }}", &c).unwrap(), Value::from(7));
    assert_eq!(t.template_value("{{ n + 1 }}", &c).unwrap(), Value::from(8));
    let l = t.template_value("{{ l }}", &c).unwrap();
    assert_eq!(l.len(), Some(2));
    assert_eq!(l.get_item(&Value::from(1)).unwrap(), Value::from("a"));
    assert!(t.template_value("{{ none_v }}", &c).unwrap().is_none());
    // a template that emits one value and no text is native too (Jinja native concat)
    assert_eq!(
        t.template_value("{% if true %}{{ n }}{% endif %}", &c)
            .unwrap(),
        Value::from(7)
    );
}

#[test]
fn mixed_text_renders_to_string_and_plain_strings_pass_through() {
    let t = Templar::new();
    let c = ctx();
    assert_eq!(
        t.template_value("n={{ n }}", &c).unwrap(),
        Value::from("n=7")
    );
    assert_eq!(
        t.template_value("{{ n }} {{ s }}", &c).unwrap(),
        Value::from("7 hi")
    );
    assert_eq!(
        t.template_value("no markers {x}", &c).unwrap(),
        Value::from("no markers {x}")
    );
    // measured with ansible-core 2.19.14 (vars: a: "{{ n }}\n\n" → '7\n\n', " {{ n }}" → ' 7')
    assert_eq!(
        t.template_value("{{ n }}\n\n", &c).unwrap(),
        Value::from("7\n\n")
    );
    assert_eq!(t.template_value(" {{ n }}", &c).unwrap(), Value::from(" 7"));
    // `!unsafe` values are safe strings: never templated
    let unsafe_v = Value::from_safe_string("{{ n }}".into());
    assert_eq!(
        t.template_any(&unsafe_v, &c).unwrap().as_str(),
        Some("{{ n }}")
    );
    let nested = rig::template::yamlload::load("a: ['{{ n }}', !unsafe '{{ s }}']").unwrap();
    let out = t.template_any(&nested, &c).unwrap();
    let a = out.get_attr("a").unwrap();
    assert_eq!(a.get_item(&Value::from(0)).unwrap(), Value::from(7));
    assert_eq!(
        a.get_item(&Value::from(1)).unwrap().as_str(),
        Some("{{ s }}")
    );
}

#[test]
fn omit_renders_empty_and_drops_out_of_containers() {
    // measured with ansible-core 2.19.14:
    // 'a=[{{ x | default(omit) }}] b={{ [1, omit, 2] }} c={{ omit is defined }}' → 'a=[] b=[1, 2] c=True'
    let t = Templar::new();
    let c = Value::from_pairs([("omit", rig::template::omit_value())]);
    let out = t
        .render_str(
            "x",
            "a=[{{ x | default(omit) }}] b={{ [1, omit, 2] }} c={{ omit is defined }}\n",
            &c,
        )
        .unwrap();
    assert_eq!(out, "a=[] b=[1, 2] c=True\n");
    assert!(rig::template::is_omit(
        &t.template_value("{{ x | default(omit) }}", &c).unwrap()
    ));
}

#[test]
fn percent_formatting_follows_python() {
    let t = Templar::new();
    let c = ctx();
    let r = |s: &str| t.render_str("x", s, &c).unwrap();
    assert_eq!(r("{{ '%s|%s' % (1, 2) }}"), "1|2");
    assert_eq!(r("{{ '%s' % [5] }}"), "[5]");
    assert_eq!(r("{{ '%s' % (5,) }}"), "5");
    assert_eq!(r("{{ '%s' % l }}"), "[1, 'a']");
    // a variable format string with a tuple/str right side is formatting too
    let c2 = Value::from_pairs([("fmt", Value::from("%s=%03d")), ("n", Value::from(7))]);
    assert_eq!(
        t.render_str("x", "{{ fmt % ('k', n) }} {{ n % 4 }}", &c2)
            .unwrap(),
        "k=007 3"
    );
}

#[test]
fn bare_expressions() {
    let t = Templar::new();
    let c = ctx();
    assert!(t.eval_expr("n > 5 and s == 'hi'", &c).unwrap().is_true());
    assert!(!t.eval_expr("'no' | bool", &c).unwrap().is_true());
    assert_eq!(t.eval_expr("'%03d' % n", &c).unwrap(), Value::from("007"));
    assert!(!t.eval_expr("missing is defined", &c).unwrap().is_true());
}

#[test]
fn render_str_pads_trailing_newlines_like_ansible() {
    let t = Templar::new();
    let c = ctx();
    assert_eq!(t.render_str("x", "a {{ s }}\n\n", &c).unwrap(), "a hi\n\n");
    assert_eq!(t.render_str("x", "{{ d }}", &c).unwrap(), "{'k': 'v'}");
}

#[test]
fn errors_name_the_culprit_with_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.j2");
    std::fs::write(&p, "a: 1\nb: {{ nope }}\n").unwrap();
    let t = Templar::new();
    let e = t
        .render_template_file(&p, &ctx(), &TemplateOptions::default())
        .unwrap_err();
    assert!(e.message.contains("'nope' is undefined"), "{}", e.message);
    let loc = e.location.unwrap();
    assert_eq!((loc.line, loc.col), (2, 7));

    std::fs::write(&p, "x\n{{ d.missing_attr }}\n").unwrap();
    let e = t
        .render_template_file(&p, &ctx(), &TemplateOptions::default())
        .unwrap_err();
    assert!(
        e.message
            .starts_with("object of type 'dict' has no attribute 'missing_attr'"),
        "{}",
        e.message
    );

    std::fs::write(&p, "{{ 1 | nope_filter }}").unwrap();
    let e = t
        .render_template_file(&p, &ctx(), &TemplateOptions::default())
        .unwrap_err();
    assert!(e.message.contains("nope_filter"), "{}", e.message);

    std::fs::write(&p, "#jinja2: trim_blocks: False\nok\n{% if %}\n").unwrap();
    let e = t
        .render_template_file(&p, &ctx(), &TemplateOptions::default())
        .unwrap_err();
    assert_eq!(
        e.location.unwrap().line,
        3,
        "header line counted: {}",
        e.message
    );
}

#[test]
fn includes_resolve_through_the_search_path() {
    let dir = tempfile::tempdir().unwrap();
    let tpl_dir = dir.path().join("tpl");
    let shared = dir.path().join("shared");
    std::fs::create_dir_all(&tpl_dir).unwrap();
    std::fs::create_dir_all(shared.join("templates")).unwrap();
    std::fs::write(shared.join("templates/part.j2"), "part {{ s }}\n").unwrap();
    std::fs::write(tpl_dir.join("main.j2"), "[{% include 'part.j2' %}]\n").unwrap();
    let t = Templar::new();
    let opts = TemplateOptions {
        search_path: vec![shared],
        ..TemplateOptions::default()
    };
    let out = t
        .render_template_file(&tpl_dir.join("main.j2"), &ctx(), &opts)
        .unwrap();
    assert_eq!(out, "[part hi]\n");
}

#[test]
fn password_lookup_creates_the_file_once() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("creds/pw.txt");
    let c = Value::from_pairs([("p", Value::from(pw.display().to_string()))]);
    let t = Templar::new();
    let tpl = "{{ lookup('password', p ~ ' length=12 chars=digits') }}";
    let first = t.render_str("x", tpl, &c).unwrap();
    assert_eq!(first.len(), 12, "{first}");
    assert!(first.chars().all(|ch| ch.is_ascii_digit()), "{first}");
    assert_eq!(std::fs::read_to_string(&pw).unwrap(), format!("{first}\n"));
    // the second lookup reads the stored password back
    assert_eq!(t.render_str("x", tpl, &c).unwrap(), first);
}

#[test]
fn strings_and_expressions_see_the_search_path() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("files")).unwrap();
    std::fs::write(dir.path().join("files/motd.txt"), "welcome\n\n").unwrap();
    let t = Templar::new();
    let c = ctx();
    let sp = vec![dir.path().to_path_buf()];
    assert_eq!(
        t.template_value_in("{{ lookup('file', 'motd.txt') }}", &c, &sp)
            .unwrap(),
        Value::from("welcome")
    );
    assert_eq!(
        t.render_str_in("x", "[{{ lookup('file', 'motd.txt') }}]", &c, &sp)
            .unwrap(),
        "[welcome]"
    );
    assert!(
        t.eval_expr_in("lookup('file', 'motd.txt') == 'welcome'", &c, &sp)
            .unwrap()
            .is_true()
    );
    assert!(
        t.template_value("{{ lookup('file', 'motd.txt') }}", &c)
            .is_err()
    );
}

/// A template that recurses without end, or nests deeper than the parser allows, is an error
/// that names the problem, on the stack rig's runtime gives the threads that render (not a
/// stack overflow that aborts the run).
#[test]
fn runaway_recursion_is_an_error_not_an_abort() {
    let worker = std::thread::Builder::new()
        .stack_size(rig::exec::WORKER_STACK)
        .spawn(|| {
            let t = Templar::new();
            let r = t.render_str(
                "rec.j2",
                "{% macro m(n) %}{{ m(n + 1) }}{% endmacro %}{{ m(1) }}",
                &ctx(),
            );
            let e = r.expect_err("endless recursion renders");
            assert!(e.message.contains("recursion"), "{}", e.message);
            for depth in [100, 200] {
                let src = format!("{{{{ {}1{} }}}}", "(".repeat(depth), ")".repeat(depth));
                match t.render_str("deep.j2", &src, &ctx()) {
                    Ok(v) => assert_eq!(v.to_string(), "1", "depth {depth}"),
                    Err(e) => assert!(e.message.contains("recursion"), "{}", e.message),
                }
            }
        })
        .expect("thread");
    worker.join().expect("no panic, no overflow");
}

/// `int` with a base Python rejects (1, 37, `true`) falls back as Jinja's `do_int` does
/// (float, then the default) instead of panicking; base 0 reads the prefix. Expected output
/// from ansible-core 2.19.14 (`lookup('template')` of the same line). Found by the fuzzer.
#[test]
fn int_with_an_invalid_base_is_the_default_not_a_panic() {
    let t = Templar::new();
    let src = r#"{{ "abc" | int("e", true) }} {{ "12" | int(0, 1) }} {{ "12" | int(0, 37) }} {{ "0x1f" | int(0, 0) }} {{ "0b101" | int(base=0) }} {{ "17" | int(base=0) }} {{ "7.5" | int(3, 1) }}"#;
    let out = t.render_str("int.j2", src, &ctx()).expect("renders");
    assert_eq!(out.to_string(), "e 12 12 31 5 17 7");
}
