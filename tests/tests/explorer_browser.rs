//! The explorer in a real browser (issue #14): headless Debian `chromium` with JavaScript off
//! loads the pages over a real socket, and the test follows the links it finds in the rendered
//! DOM from the root to an object's history, its versions, a diff, the revert form (posted by
//! the test over the socket as the browser would send it) and the views chart.
//!
//! Fails, never skips, when chromium is missing: `apt-get install chromium`.

mod explorer_support;

use std::process::Command;

use explorer_support::*;

/// The DOM chromium renders for `url`, with JavaScript off and a fresh profile.
fn dump_dom(url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let output = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-javascript",
            "--window-size=412,900",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(url)
        .output()
        .unwrap_or_else(|error| {
            panic!(
                "cannot run `chromium` ({error}): the browser tests need it; install it with `apt-get install chromium`"
            )
        });
    assert!(output.status.success(), "chromium failed on {url}: {}", String::from_utf8_lossy(&output.stderr));
    let dom = String::from_utf8(output.stdout).expect("UTF-8 DOM");
    assert!(dom.contains("</html>"), "chromium rendered no page for {url}:\n{dom}");
    dom
}

/// [`dump_dom`] off the runtime's threads (the server runs on them).
async fn browse(url: String) -> String {
    tokio::task::spawn_blocking(move || dump_dom(&url)).await.unwrap()
}

/// The one link of the DOM whose href satisfies `wanted`, as an absolute URL.
fn follow(app: &App, dom: &str, what: &str, wanted: impl Fn(&str) -> bool) -> String {
    let links: Vec<String> = hrefs(dom).into_iter().filter(|href| wanted(href)).collect();
    assert!(!links.is_empty(), "no link to {what} in:\n{dom}");
    for link in &links {
        assert!(link.starts_with(NEST), "links keep the nest path: {link}");
    }
    format!("http://{}{}", app.addr, links[0])
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reviewer_follows_links_from_the_root_to_history_diff_revert_and_views() {
    let app = start(true).await;
    seed(&app).await;

    let root = browse(app.url("")).await;
    assert!(root.contains("name=\"viewport\""), "readable on a phone");
    let history_url = follow(&app, &root, "observation 17's history", |h| h.ends_with("/objects/observation/17"));

    let history = browse(history_url.clone()).await;
    assert!(history.contains("History of observation 17"));
    assert!(history.contains("changed (redacted)"), "the redacted change says only that it changed");
    assert!(history.contains("36.6") && history.contains("38.2"), "old → new values");
    for dom in [&root, &history] {
        assert!(!dom.contains("<script") && !dom.contains("<img"), "hostile strings stayed text:\n{dom}");
        assert!(!dom.contains(SSN) && !dom.contains(SSN_LATER), "a redacted value reached the page");
    }
    assert!(history.contains("&lt;img src=x onerror=alert('actor')&gt;"), "the hostile actor is shown as text");

    let versions_url = follow(&app, &history, "the versions", |h| h.ends_with("/versions"));
    let versions = browse(versions_url).await;
    assert!(versions.contains("SSN corrected") && versions.contains("Created revision 1"), "{versions}");
    assert!(versions.contains("&lt;/td&gt;&lt;script&gt;"), "the hostile comment is text");

    follow(&app, &versions, "a diff", |h| h.contains("/diff?from="));
    // The oldest change (version 1 → 2) is the last link: the note was rewritten there.
    let diffs: Vec<String> = hrefs(&versions).into_iter().filter(|h| h.contains("/diff?from=")).collect();
    let diff = browse(format!("http://{}{}", app.addr, diffs.last().unwrap())).await;
    assert!(diff.contains("<del>mild</del>") || diff.contains("<del>mild "), "a word-level diff:\n{diff}");
    assert!(diff.contains("<ins>high</ins>") || diff.contains("<ins>high "), "{diff}");
    assert!(diff.contains("&lt;script&gt;alert(\"note\")&lt;/script&gt;"), "the note is text:\n{diff}");
    assert!(!diff.contains(SSN) && !diff.contains(SSN_LATER));

    follow(&app, &versions, "a revert", |h| h.contains("/revert/"));
    let reverts: Vec<String> = hrefs(&versions).into_iter().filter(|h| h.contains("/revert/")).collect();
    let revert_url = format!("http://{}{}", app.addr, reverts.last().unwrap()); // the oldest version
    let confirm = browse(revert_url).await;
    assert!(confirm.contains("Revert observation 17 to version"), "{confirm}");
    let (action, token) = revert_form(&confirm);
    assert!(action.starts_with(NEST));
    // The form as a browser submits it without script: urlencoded, same origin.
    let origin = format!("http://{}", app.addr);
    let posted = request(
        app.addr,
        "POST",
        &action,
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Origin", &origin),
            ("Sec-Fetch-Site", "same-origin"),
        ],
        &format!("token={}", token.replace('.', "%2E")),
    )
    .await;
    assert_eq!(posted.status, 303, "{}", posted.body);
    assert_eq!(app.observations.get("17").unwrap().value, 36.6, "reverted to the first version");
    app.auditor.flush().await.unwrap();
    let versions_after = browse(format!("{origin}{NEST}/objects/observation/17/versions")).await;
    assert!(versions_after.contains("Reverted to version"), "the revert is recorded as a revision");
    let history_after = browse(history_url).await;
    assert!(history_after.contains("user admin"), "and as a change by the reverting user");

    let views_url = follow(&app, &history, "the views", |h| h.ends_with("/views"));
    let views = browse(views_url).await;
    assert!(views.contains("<svg") && views.contains("<rect"), "an inline SVG chart:\n{views}");
    assert!(views.contains("3 views in the last 30 days"), "{views}");
    assert!(views.contains(": 3 views</title>"), "today's bar has its count: {views}");

    let chain_url = follow(&app, &root, "the chain", |h| h.ends_with("/verify"));
    let chain = browse(chain_url).await;
    assert!(chain.contains("Intact"), "{chain}");
    let head = app.store.verify().await.unwrap().head().unwrap().to_string();
    assert!(chain.contains(&head), "the head anchor {head} is shown");
}
