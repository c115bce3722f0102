//! Every supported form of `#[trace_span]` compiles, without `tracing` or `std` names in scope
//! mattering.
#![deny(warnings)]

use std::future::Future;

use audit_runtime::trace_span;

#[derive(Debug)]
pub struct Uuid(u128);

#[derive(Debug)]
pub enum Kind {
    Csv,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

#[derive(Debug)]
pub struct LoadError;

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("load failed")
    }
}

impl std::error::Error for LoadError {}

#[trace_span]
pub fn bare() {}

// The design's example.
#[trace_span(name = "load", level = "debug", fields(id, kind = %k), err, ret)]
pub async fn load(id: Uuid, k: Kind, password: &str) -> Result<u32, LoadError> {
    if password.is_empty() { Err(LoadError) } else { Ok(id.0 as u32) }
}

#[trace_span(fields(a, b = a + 1, c = ?Some(a), d.e = "dotted"), level = "trace")]
pub fn expressions(a: i64) -> i64 {
    a
}

#[trace_span(err)]
pub fn string_error(text: &str) -> Result<i32, String> {
    text.parse::<i32>().map_err(|e| e.to_string())
}

#[trace_span(err)]
pub fn with_question_mark(text: &str) -> Result<i32, Box<dyn std::error::Error>> {
    let n: i32 = text.parse()?;
    Ok(n)
}

#[trace_span(ret, level = "warn")]
pub fn early_return(x: u8) -> u8 {
    if x > 3 {
        return 3;
    }
    x
}

#[trace_span(fields(id))]
pub fn returns_future(id: u32) -> impl Future<Output = u32> + Send {
    async move { id }
}

#[trace_span(ret, err)]
pub fn returns_result_future(id: u32) -> impl Future<Output = Result<u32, LoadError>> {
    async move { if id == 0 { Err(LoadError) } else { Ok(id) } }
}

#[trace_span(parent = None, level = "error")]
pub fn detached() {}

#[trace_span(follows_from = [cause.id()])]
pub fn caused(cause: &audit_runtime::__private::tracing::Span) {}

pub struct Repo {
    pub name: String,
}

impl Repo {
    #[trace_span(fields(key, repo = %self.name))]
    pub fn get(&self, key: &str) -> usize {
        key.len()
    }

    #[trace_span]
    pub fn rename(&mut self, name: String) {
        self.name = name;
    }

    #[trace_span(err, fields(id))]
    pub async fn fetch(&self, id: u32) -> Result<u32, LoadError> {
        Ok(id + self.name.len() as u32)
    }

    #[trace_span(ret)]
    pub fn generic<T: std::fmt::Debug + Clone>(&self, value: &T) -> T {
        value.clone()
    }
}

pub trait Count {
    fn count(&self, table: &str) -> usize;
}

impl Count for Repo {
    #[trace_span(fields(table))]
    fn count(&self, table: &str) -> usize {
        table.len()
    }
}

fn main() {
    bare();
    let _ = load(Uuid(1), Kind::Csv, "pw");
    let _ = expressions(1);
    let _ = string_error("1");
    let _ = with_question_mark("1");
    let _ = early_return(5);
    let _ = returns_future(1);
    let _ = returns_result_future(1);
    detached();
    caused(&audit_runtime::__private::tracing::Span::none());
    let mut repo = Repo { name: "r".into() };
    let _ = repo.get("k");
    repo.rename("s".into());
    let _ = repo.fetch(1);
    let _ = repo.generic(&1u8);
    let _ = repo.count("t");
}
