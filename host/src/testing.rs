//! What the host's unit tests share.

/// Strings that match an anchored pattern (`^…$`), for property tests that
/// hold a parser to its documented pattern (the generator wants the pattern
/// without anchors: it generates whole strings).
pub(crate) fn strings_matching(pattern: &str) -> impl proptest::strategy::Strategy<Value = String> {
    let unanchored = pattern.trim_start_matches('^').trim_end_matches('$');
    proptest::string::string_regex(unanchored).expect("a pattern proptest can generate from")
}
