//! The YAML loader never panics, whatever it is given.

use proptest::prelude::*;

const VALID: &[&str] = &[
    "a: 1\nb: [x, {c: d}]\n",
    "- &a {x: 1}\n- <<: *a\n  y: 2\n",
    "k: !unsafe '{{ v }}'\nv: !vault |\n  $ANSIBLE_VAULT\n",
    "---\n? a\n: b\n...\n--- |\n  text\n",
    "{\"json\": [1, 2.5, true, null, \"s\"]}",
    "t: 2001-12-14 21:59:43.10 -5\nn: 0x_1F\ns: 1:20.5\n",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = rig::yaml::load_str(&text, "p.yml");
    }

    #[test]
    fn yaml_ish_text_never_panics(text in "[-:&*!<>|{}\\[\\],?#'\" \\nabxy0-9.~%@`\t]{0,120}") {
        let _ = rig::yaml::load_str(&text, "p.yml");
    }

    #[test]
    fn mutated_valid_yaml_never_panics(
        which in 0..VALID.len(),
        pos in 0usize..200,
        insert in "[-:&*!<>|{}\\[\\],?#'\" \\n\ta-z0-9]{0,4}",
        delete in 0usize..4,
    ) {
        let base = VALID[which];
        let mut chars: Vec<char> = base.chars().collect();
        let pos = pos.min(chars.len());
        let end = (pos + delete).min(chars.len());
        chars.splice(pos..end, insert.chars());
        let text: String = chars.into_iter().collect();
        let _ = rig::yaml::load_str(&text, "p.yml");
    }
}
