use audit_runtime::trace_span;

/// An extractor shaped like axum's `Path`.
pub struct Path<T>(pub T);

/// A pair of values.
pub struct Pair {
    pub left: u8,
    pub right: u8,
}

#[trace_span(fields(id))]
fn show(Path(id): Path<i64>) -> i64 {
    id
}

#[trace_span(fields(a, b, left))]
fn sum((a, b): (u8, u8), Pair { left, right }: Pair) -> u8 {
    a + b + left + right
}

#[trace_span(fields(id))]
async fn show_async(Path(id): Path<String>) -> usize {
    id.len()
}

fn main() {
    assert_eq!(show(Path(7)), 7);
    assert_eq!(sum((1, 2), Pair { left: 3, right: 4 }), 10);
    let _ = show_async(Path("x".into()));
}
