//! Compile-fail and compile-pass cases of the macros. One mistake a file, named for the mistake;
//! regenerate a `.stderr` with `TRYBUILD=overwrite cargo test -p audit-ui-tests` and read it.

#[test]
fn log_event() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/fail/event-*.rs");
    t.pass("ui/pass/event-*.rs");
}

#[test]
fn audited() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/fail/audited-*.rs");
    t.pass("ui/pass/audited-*.rs");
}

#[test]
fn trace_span() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/fail/span-*.rs");
    t.pass("ui/pass/span-*.rs");
}
