//! The HTML pages (maud: checked at compile time, every `(value)` HTML-escaped). No script:
//! links and plain forms only; one small inline style sheet that reads on a phone.

use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde_json::Value;

use super::json::{DiffPage, EntriesPage, EntryView, RevertPage, VerifyPage, VersionsPage, ViewsPage};
use super::params::Params;
use super::routes::Req;
use super::{chart, diff};
use crate::http::ApiError;

const STYLE: &str = "body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:70em;padding:0 .8em;color:#222}\
nav{display:flex;flex-wrap:wrap;gap:1em;padding:.6em 0;border-bottom:1px solid #ccc}\
table{border-collapse:collapse;width:100%}th,td{text-align:left;vertical-align:top;padding:.3em .4em;\
border-bottom:1px solid #eee;overflow-wrap:break-word}th{background:#f4f4f4}\
form.search{display:grid;grid-template-columns:repeat(auto-fill,minmax(11em,1fr));gap:.5em}\
label{display:flex;flex-direction:column;font-size:.85em}input,select,button{font:inherit;padding:.25em}\
del{background:#fdd}ins{background:#dfd;text-decoration:none}.muted{color:#666}.ok{color:#060}.bad{color:#a00}\
.chart{width:100%;max-width:40em;height:auto}pre{white-space:pre-wrap;margin:0}\
.v{white-space:pre-wrap;background:#f6f6f6;padding:0 .2em}td{max-width:30em}tr.changed td{background:#fffbe6}\
@media(max-width:40em){thead{display:none}tr{display:block;border-bottom:2px solid #ccc}\
td{display:block;border:0}td[data-label]::before{content:attr(data-label) \": \";font-weight:600}}";

fn layout(req: &Req, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · audit explorer" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                nav {
                    a href=(req.links.search("")) { "Search" }
                    a href=(req.links.verify()) { "Chain" }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// A JSON value as text: strings as they are, anything else as JSON.
fn value(value: &Value) -> Markup {
    match value {
        Value::String(text) => html! { code.v { (text) } },
        other => html! { code.v { (other.to_string()) } },
    }
}

fn entries_table(req: &Req, page: &EntriesPage, with_object: bool) -> Markup {
    html! {
        @if page.entries.is_empty() {
            p.muted { "No entries." }
        } @else {
            table {
                thead { tr {
                    th { "Time" } th { "Actor" } th { "Action" }
                    @if with_object { th { "Object" } }
                    th { "Request" } th { "Message" } th { "Changes" }
                } }
                tbody {
                    @for entry in &page.entries { (entry_row(req, entry, with_object)) }
                }
            }
        }
        @if let Some(next) = &page.next {
            p { a rel="next" href=(next) { "Older entries →" } }
        }
    }
}

fn entry_row(req: &Req, entry: &EntryView, with_object: bool) -> Markup {
    let actor_query = format!("actor={}", super::links::encode(&actor_param(&entry.actor)));
    html! {
        tr {
            td data-label="Time" { (entry.time) }
            td data-label="Actor" { a href=(req.links.search(&actor_query)) { (entry.actor) } }
            td data-label="Action" { (entry.action) }
            @if with_object {
                td data-label="Object" {
                    a.object href=(req.links.object(&entry.object_type, &entry.object_id, "")) {
                        (entry.object_type) " " (entry.object_id)
                    }
                    @if !entry.object_repr.is_empty() && entry.object_repr != format!("{} {}", entry.object_type, entry.object_id) {
                        br; span.muted { (entry.object_repr) }
                    }
                }
            }
            td data-label="Request" {
                @if let Some(request_id) = &entry.request_id {
                    a href=(req.links.search(&format!("request_id={}", super::links::encode(request_id)))) { (request_id) }
                } @else { span.muted { "–" } }
            }
            td data-label="Message" { (entry.message) }
            td data-label="Changes" {
                @for change in &entry.changes {
                    div.change {
                        strong { (change.field) } ": "
                        @if change.redacted {
                            em.muted { "changed (redacted)" }
                        } @else {
                            (change.old.as_ref().map(value).unwrap_or_default()) " → " (change.new.as_ref().map(value).unwrap_or_default())
                        }
                    }
                }
            }
        }
    }
}

/// `user alice` → `alice`, `system retention` → `system:retention`: the search's actor syntax.
fn actor_param(shown: &str) -> String {
    match shown.split_once(' ') {
        Some(("user", id)) => id.to_owned(),
        Some(("system", name)) => format!("system:{name}"),
        _ => shown.to_owned(),
    }
}

pub(super) fn search(req: &Req, params: &Params, page: &EntriesPage) -> Markup {
    let field = |name: &str, label: &str, hint: &str| {
        html! { label { (label) input name=(name) value=(params.text(name).unwrap_or("")) placeholder=(hint); } }
    };
    layout(
        req,
        "Audit trail",
        html! {
            form.search method="get" action=(req.links.search("")) {
                (field("object_type", "Object type", "observation"))
                (field("object_id", "Object id", "17"))
                (field("actor", "Actor", "alice or system:import"))
                label { "Action" select name="action" {
                    option value="" { "any" }
                    @for action in ["create", "change", "delete", "view"] {
                        option value=(action) selected[params.text("action") == Some(action)] { (action) }
                    }
                } }
                (field("request_id", "Request id", ""))
                (field("since", "Since", "2025-05-19"))
                (field("until", "Until", "2025-05-20T12:00:00Z"))
                label { "\u{a0}" button type="submit" { "Search" } }
            }
            @if let Some(object_type) = params.text("object_type") {
                p { a href=(req.links.type_views(object_type)) { "Views of every " (object_type) " per day" } }
            }
            (entries_table(req, page, true))
        },
    )
}

fn object_nav(req: &Req, object_type: &str, object_id: &str) -> Markup {
    html! {
        p {
            a href=(req.links.object(object_type, object_id, "")) { "History" } " · "
            a href=(req.links.object(object_type, object_id, "/versions")) { "Versions" } " · "
            a href=(req.links.object(object_type, object_id, "/views")) { "Views" } " · "
            a href=(req.links.search(&format!("object_type={}", super::links::encode(object_type)))) { "All " (object_type) }
        }
    }
}

pub(super) fn history(req: &Req, object_type: &str, object_id: &str, page: &EntriesPage) -> Markup {
    layout(
        req,
        &format!("History of {object_type} {object_id}"),
        html! { (object_nav(req, object_type, object_id)) (entries_table(req, page, false)) },
    )
}

pub(super) fn versions(req: &Req, page: &VersionsPage) -> Markup {
    let (object_type, object_id) = (page.object_type.as_str(), page.object_id.as_str());
    layout(
        req,
        &format!("Versions of {object_type} {object_id}"),
        html! {
            (object_nav(req, object_type, object_id))
            @if page.versions.is_empty() {
                p.muted { "No versions." }
            } @else {
                form method="get" action=(req.links.object(object_type, object_id, "/diff")) {
                    // By default the newest version against the one before it.
                    "Compare " select name="from" {
                        @for (i, v) in page.versions.iter().enumerate() {
                            option value=(v.id) selected[i == 1] { "version " (v.id) }
                        }
                    }
                    " with " select name="to" {
                        @for v in &page.versions { option value=(v.id) { "version " (v.id) } }
                    }
                    " " button type="submit" { "Compare" }
                }
                table {
                    thead { tr { th { "Version" } th { "Time" } th { "User" } th { "Comment" } th { "" } } }
                    tbody {
                        @for (i, version) in page.versions.iter().enumerate() {
                            tr {
                                td data-label="Version" { (version.id) }
                                td data-label="Time" { (version.created_at) }
                                td data-label="User" { (version.user.as_deref().unwrap_or("–")) }
                                td data-label="Comment" { (version.comment.as_deref().unwrap_or("")) }
                                td {
                                    @if let Some(previous) = page.versions.get(i + 1) {
                                        a.diff href=(req.links.object(object_type, object_id, &format!("/diff?from={}&to={}", previous.id, version.id))) { "Changes" }
                                        " "
                                    }
                                    @if page.revertible {
                                        a.revert href=(req.links.object(object_type, object_id, &format!("/revert/{}", version.id))) { "Revert to this" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

fn fields_table(fields: &[diff::FieldDiff], old: &str, new: &str) -> Markup {
    html! {
        table.diff {
            thead { tr { th { "Field" } th { (old) } th { (new) } } }
            tbody {
                @for field in fields {
                    tr class=(if field.changed { "changed" } else { "same" }) {
                        td data-label="Field" { @if field.changed { strong { (field.field) } } @else { (field.field) } }
                        @if let Some(words) = &field.words {
                            td colspan="2" data-label="Words" { pre {
                                @for word in words {
                                    @match word.op {
                                        "delete" => del { (word.text) },
                                        "insert" => ins { (word.text) },
                                        _ => (word.text),
                                    }
                                }
                            } }
                        } @else {
                            td data-label=(old) { (field.old.as_ref().map(value).unwrap_or_else(|| html! { em.muted { "absent" } })) }
                            td data-label=(new) { (field.new.as_ref().map(value).unwrap_or_else(|| html! { em.muted { "absent" } })) }
                        }
                    }
                }
            }
        }
    }
}

pub(super) fn diff(req: &Req, page: &DiffPage) -> Markup {
    let old = format!("version {}", page.from.id);
    let new = format!("version {}", page.to.id);
    layout(
        req,
        &format!("{} {}: {old} → {new}", page.object_type, page.object_id),
        html! {
            (object_nav(req, &page.object_type, &page.object_id))
            p {
                (old) ": " (page.from.user.as_deref().unwrap_or("–")) ", " (page.from.created_at)
                @if let Some(comment) = &page.from.comment { " — " (comment) }
                br;
                (new) ": " (page.to.user.as_deref().unwrap_or("–")) ", " (page.to.created_at)
                @if let Some(comment) = &page.to.comment { " — " (comment) }
            }
            (fields_table(&page.fields, &old, &new))
        },
    )
}

pub(super) fn revert(req: &Req, page: &RevertPage) -> Markup {
    let (object_type, object_id) = (page.object_type.as_str(), page.object_id.as_str());
    layout(
        req,
        &format!("Revert {object_type} {object_id} to version {}?", page.version.id),
        html! {
            p { "Version " (page.version.id) " was made by " (page.version.user.as_deref().unwrap_or("–"))
                " at " (page.version.created_at)
                @if let Some(comment) = &page.version.comment { " (" (comment) ")" } "." }
            p { "Reverting saves the object as it was then; the revert is recorded as a change by you." }
            (fields_table(&page.fields, "now", "after the revert"))
            form method="post" action=(req.links.object(object_type, object_id, &format!("/revert/{}", page.version.id))) {
                input type="hidden" name="token" value=(page.token);
                button type="submit" { "Revert" } " "
                a href=(req.links.object(object_type, object_id, "/versions")) { "Cancel" }
            }
        },
    )
}

pub(super) fn views(req: &Req, page: &ViewsPage) -> Markup {
    let title = match &page.object_id {
        Some(id) => format!("Views of {} {id}", page.object_type),
        None => format!("Views of every {}", page.object_type),
    };
    layout(
        req,
        &title,
        html! {
            @if let Some(id) = &page.object_id { (object_nav(req, &page.object_type, id)) }
            p { (page.total) " views in the last " (page.days.len()) " days." }
            (chart::bars(&page.days))
        },
    )
}

pub(super) fn verify(req: &Req, page: &VerifyPage) -> Markup {
    layout(
        req,
        "The chain",
        html! {
            @if page.intact {
                p.ok #status { "Intact: " (page.checked) " entries verified." }
            } @else {
                p.bad #status { "Broken after " (page.checked) " entries." }
            }
            @if let Some(broken) = &page.first_broken {
                p.bad { "First broken entry: " (broken["seq"].to_string()) ": " (broken["tampering"].as_str().unwrap_or("")) }
            }
            @if let Some(head) = &page.head {
                p { "Head anchor (keep a copy elsewhere; check with " code { "audit verify URL --anchor" } "): " }
                pre #anchor { (head) }
            }
            @if let Some(checkpoint) = page.checkpoint { p.muted { "Checked from the purge checkpoint at entry " (checkpoint) "." } }
        },
    )
}

pub(super) fn error(req: &Req, error: &ApiError) -> Markup {
    layout(
        req,
        error.title(),
        html! {
            p.bad { (error.status().as_u16()) " " (error.code()) }
            @if !error.invalid_params().is_empty() {
                ul { @for param in error.invalid_params() {
                    li { @if !param.name.is_empty() { code { (param.name) } ": " } (param.reason) }
                } }
            }
        },
    )
}
