//! Views per day as a small bar chart: inline SVG drawn by the server (no script), scaled to
//! the page's width by its `viewBox`.

use maud::{Markup, html};
use serde::Serialize;
use time::Date;

/// Views of one day.
#[derive(Clone, Debug, Serialize)]
pub(super) struct DayViews {
    /// `YYYY-MM-DD`.
    pub(super) day: String,
    pub(super) views: u64,
}

/// Every day from `first` to `last`, with the counts of `counted` (days without views are 0).
pub(super) fn every_day(first: Date, last: Date, counted: &[(String, u64)]) -> Vec<DayViews> {
    let mut days = Vec::new();
    let mut day = first;
    while day <= last {
        let text = crate::store::day_text(day);
        let views = counted.iter().find(|(d, _)| *d == text).map_or(0, |(_, n)| *n);
        days.push(DayViews { day: text, views });
        match day.next_day() {
            Some(next) => day = next,
            None => break,
        }
    }
    days
}

const WIDTH: u64 = 600;
const HEIGHT: u64 = 150;
const AXIS: u64 = 20;

/// The chart: one bar per day, its count in a tooltip (`<title>`), the busiest day's count on
/// the axis.
pub(super) fn bars(days: &[DayViews]) -> Markup {
    let most = days.iter().map(|d| d.views).max().unwrap_or(0).max(1);
    let slot = WIDTH / (days.len() as u64).max(1);
    let bar = slot.saturating_sub(2).max(1);
    let plot = HEIGHT - AXIS;
    html! {
        svg class="chart" viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img"
            aria-label=(format!("views per day, {} days, at most {most} a day", days.len())) {
            line x1="0" y1=(plot) x2=(WIDTH) y2=(plot) stroke="#888" {}
            @for (i, day) in days.iter().enumerate() {
                @let height = day.views * (plot - 10) / most;
                rect x=(i as u64 * slot) y=(plot - height) width=(bar) height=(height) fill="#3a6ea5" {
                    title { (day.day) ": " (day.views) " views" }
                }
            }
            text x="0" y=(HEIGHT - 4) font-size="11" { (days.first().map_or("", |d| d.day.as_str())) }
            text x=(WIDTH) y=(HEIGHT - 4) font-size="11" text-anchor="end" { (days.last().map_or("", |d| d.day.as_str())) }
            text x="2" y="10" font-size="11" { "max " (most) }
        }
    }
}
