//! Whatever a user passes, every event gives exactly one line that parses as JSON and gives the
//! strings back unchanged.

mod common;

use common::capture_json;
use proptest::prelude::*;
use serde_json::json;

/// Any string, plus the shapes that break naive writers: lossy conversions of arbitrary UTF-16
/// (lone surrogates become U+FFFD) and of arbitrary bytes, control characters, and long values.
fn hostile_string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        prop::collection::vec(any::<u16>(), 0..64).prop_map(|units| String::from_utf16_lossy(&units)),
        prop::collection::vec(any::<u8>(), 0..64).prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
        prop::collection::vec(prop::char::range('\u{0}', '\u{7f}'), 0..64).prop_map(|c| c.into_iter().collect()),
        (any::<char>(), 10_000usize..100_000).prop_map(|(c, n)| std::iter::repeat_n(c, n).collect()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_string_gives_one_valid_json_line(message in hostile_string(), value in hostile_string(), bound in hostile_string(), number in any::<i64>()) {
        let capture = capture_json(|| {
            let _span = tracing::info_span!("request", bound_value = bound.as_str()).entered();
            tracing::info!(value = value.as_str(), debug_value = ?value, number, "{message}");
        });
        let text = capture.text();
        prop_assert_eq!(text.matches('\n').count(), 1, "exactly one line");
        prop_assert!(text.ends_with('\n'));
        let line = capture.only_line();
        prop_assert_eq!(&line["event"], &json!(message));
        prop_assert_eq!(&line["value"], &json!(value));
        prop_assert_eq!(&line["debug_value"], &json!(format!("{value:?}")));
        prop_assert_eq!(&line["bound_value"], &json!(bound));
        prop_assert_eq!(&line["number"], &json!(number));
    }
}
