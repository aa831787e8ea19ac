//! Wait metrics (`/wait-metrics`): what waiting costs, as charts with their numbers beside them.
//!
//! - % seen within 6 and 18 weeks, against the NHS Talking Therapies standards (75 % and 95 %), and the
//!   median days to the first and to the second appointment: `GetWaitlistMetrics` of the user's
//!   organization.
//! - Waitlist length by band over time, week by week for the last 12 weeks: the `length_by_band` series of
//!   the same call, which the waitlist rebuilds from every entry's enqueue, re-banding check-ins and
//!   leaving (so clients who have since been placed or removed count in the weeks they waited).
//!
//! Charts are inline SVG drawn here (no script): each has a `<title>` and `<desc>` and a table of the same
//! numbers as its text alternative.

use std::fmt::Write as _;

use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, Utc};
use continuum_proto::waitlist::v1 as wpb;
use http::StatusCode;

use super::error::Result;
use super::html::{Markup, e, ts};
use super::waitlist::BANDS;
use super::{Nav, Signed, page as render};
use crate::startup::AppState;

/// Weeks the length-over-time chart covers.
const WEEKS: i32 = 12;

/// Band colours and dash patterns (told apart without colour too).
const BAND_STYLE: [(&str, &str); 3] = [("#9f1239", ""), ("#92400e", "6 3"), ("#1e40af", "2 3")];

/// A horizontal bar chart of `rows` (label, value, target) with values out of `max`, `unit` after each.
pub fn bar_chart(
    id: &str,
    title: &str,
    desc: &str,
    rows: &[(String, f64, Option<f64>)],
    max: f64,
    unit: &str,
) -> String {
    let (w, label_w, row_h) = (560.0, 200.0, 34.0);
    let h = row_h * rows.len() as f64 + 24.0;
    let scale =
        |v: f64| if max > 0.0 { (v / max).clamp(0.0, 1.0) * (w - label_w - 70.0) } else { 0.0 };
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg class=\"chart\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\" \
         aria-labelledby=\"{id}-t {id}-d\"><title id=\"{id}-t\">{}</title><desc id=\"{id}-d\">{}</desc>",
        e(title),
        e(desc)
    );
    for (i, (label, value, target)) in rows.iter().enumerate() {
        let y = 8.0 + row_h * i as f64;
        let _ = write!(
            s,
            "<text x=\"0\" y=\"{ty}\" font-size=\"13\" fill=\"#111827\">{}</text>\
             <rect x=\"{label_w}\" y=\"{y}\" width=\"{bw:.1}\" height=\"20\" fill=\"#1e40af\"/>\
             <text x=\"{vx:.1}\" y=\"{ty}\" font-size=\"13\" fill=\"#111827\">{value:.1}{}</text>",
            e(label),
            e(unit),
            ty = y + 15.0,
            bw = scale(*value),
            vx = label_w + scale(*value) + 6.0,
        );
        if let Some(t) = target {
            let tx = label_w + scale(*t);
            let _ = write!(
                s,
                "<line x1=\"{tx:.1}\" x2=\"{tx:.1}\" y1=\"{}\" y2=\"{}\" stroke=\"#111827\" stroke-width=\"2\" stroke-dasharray=\"3 2\"/>",
                y - 4.0,
                y + 24.0
            );
        }
    }
    s.push_str("</svg>");
    s
}

/// The series as (moment, [urgent, soon, routine]), oldest first.
pub fn length_by_band(points: &[wpb::WaitlistLengthPoint]) -> Vec<(DateTime<Utc>, [usize; 3])> {
    let n = |x: i32| usize::try_from(x).unwrap_or(0);
    points
        .iter()
        .filter_map(|p| Some((ts(p.at.as_ref())?, [n(p.urgent), n(p.soon), n(p.routine)])))
        .collect()
}

/// A line chart of the series (one line per band).
pub fn line_chart(
    id: &str,
    title: &str,
    desc: &str,
    series: &[(DateTime<Utc>, [usize; 3])],
) -> String {
    let (w, h, left, bottom, top) = (560.0, 240.0, 40.0, 30.0, 12.0);
    let max = series.iter().flat_map(|(_, c)| c.iter().copied()).max().unwrap_or(0).max(1) as f64;
    let n = series.len().max(2) as f64 - 1.0;
    let x = |i: usize| left + (w - left - 100.0) * i as f64 / n;
    let y = |v: usize| top + (h - top - bottom) * (1.0 - v as f64 / max);
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg class=\"chart\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\" \
         aria-labelledby=\"{id}-t {id}-d\"><title id=\"{id}-t\">{}</title><desc id=\"{id}-d\">{}</desc>\
         <line x1=\"{left}\" x2=\"{left}\" y1=\"{top}\" y2=\"{yb}\" stroke=\"#111827\"/>\
         <line x1=\"{left}\" x2=\"{xr}\" y1=\"{yb}\" y2=\"{yb}\" stroke=\"#111827\"/>\
         <text x=\"{lx}\" y=\"{ty}\" font-size=\"12\" fill=\"#111827\" text-anchor=\"end\">{max}</text>\
         <text x=\"{lx}\" y=\"{yb}\" font-size=\"12\" fill=\"#111827\" text-anchor=\"end\">0</text>",
        e(title),
        e(desc),
        yb = h - bottom,
        xr = w - 100.0,
        lx = left - 4.0,
        ty = top + 10.0,
        max = max as usize,
    );
    for (i, (at, _)) in series.iter().enumerate() {
        if i % 4 == 0 || i + 1 == series.len() {
            let _ = write!(
                s,
                "<text x=\"{:.1}\" y=\"{}\" font-size=\"11\" fill=\"#111827\" text-anchor=\"middle\">{}</text>",
                x(i),
                h - bottom + 16.0,
                at.format("%b %d")
            );
        }
    }
    for (b, (_, label, _)) in BANDS.iter().enumerate() {
        let (color, dash) = BAND_STYLE[b];
        let points: Vec<String> = series
            .iter()
            .enumerate()
            .map(|(i, (_, c))| format!("{:.1},{:.1}", x(i), y(c[b])))
            .collect();
        let dash =
            if dash.is_empty() { String::new() } else { format!(" stroke-dasharray=\"{dash}\"") };
        let short = label.split(' ').next().unwrap_or_default();
        let last = series.last().map_or(0, |(_, c)| c[b]);
        let _ = write!(
            s,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2.5\"{dash} points=\"{}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" fill=\"{color}\">{short}: {last}</text>",
            points.join(" "),
            w - 96.0,
            top + 14.0 + 18.0 * b as f64,
        );
    }
    s.push_str("</svg>");
    s
}

/// `GET /wait-metrics`.
pub async fn page(State(state): State<AppState>, signed: Signed) -> Result<Response> {
    let metrics = state
        .upstreams
        .waitlist
        .clone()
        .get_waitlist_metrics(signed.caller.request(wpb::GetWaitlistMetricsRequest {
            organization_id: signed.org().to_owned(),
            length_weeks: WEEKS,
        }))
        .await?
        .into_inner();
    let mine = metrics
        .organizations
        .into_iter()
        .find(|o| o.organization_id.eq_ignore_ascii_case(signed.org()))
        .unwrap_or_default();
    let mut m = Markup::new();
    html!(
        m,
        "<p class=\"summary\">{} placed · {} waiting · {} deteriorated while waiting · {} crisis events while waiting</p>",
        mine.placed,
        mine.waiting,
        mine.deterioration_events,
        mine.crisis_events
    );

    let six = mine.share_seen_within_6_weeks * 100.0;
    let eighteen = mine.share_seen_within_18_weeks * 100.0;
    let seen = bar_chart(
        "seen",
        "Share seen within 6 and 18 weeks",
        &format!(
            "{six:.1}% seen within 6 weeks (standard 75%); {eighteen:.1}% within 18 weeks (standard 95%). Dashed marks are the standards."
        ),
        &[
            ("Within 6 weeks".to_owned(), six, Some(75.0)),
            ("Within 18 weeks".to_owned(), eighteen, Some(95.0)),
        ],
        100.0,
        "%",
    );
    html!(
        m,
        "<section aria-labelledby=\"seen-h\"><h2 id=\"seen-h\">Seen within 6 and 18 weeks</h2><figure>{seen}\
         <figcaption>Placed with a first appointment within the time, over the placed entries plus those still \
         waiting beyond it (long waits are never hidden). Dashed marks: the standards, 75% and 95%.</figcaption></figure>\
         <table><caption>Seen within 6 and 18 weeks (the chart's numbers)</caption><thead><tr><th scope=\"col\">Measure</th>\
         <th scope=\"col\">Value</th><th scope=\"col\">Standard</th></tr></thead><tbody>\
         <tr><th scope=\"row\">Within 6 weeks</th><td>{six:.1}%</td><td>75%</td></tr>\
         <tr><th scope=\"row\">Within 18 weeks</th><td>{eighteen:.1}%</td><td>95%</td></tr></tbody></table></section>"
    );

    let first = mine.median_days_to_first_appointment;
    let second = mine.median_days_to_second_appointment;
    let max = first.max(second).max(42.0);
    let times = bar_chart(
        "times",
        "Median days to the first and second appointment",
        &format!(
            "Median {first:.1} days from joining the waitlist to the first appointment, {second:.1} days to the second ({} second appointments recorded).",
            mine.second_appointments_recorded
        ),
        &[
            ("First appointment".to_owned(), first, Some(42.0)),
            ("Second appointment".to_owned(), second, Some(42.0)),
        ],
        max,
        " days",
    );
    html!(
        m,
        "<section aria-labelledby=\"times-h\"><h2 id=\"times-h\">Time to first and second appointment</h2><figure>{times}\
         <figcaption>Medians over placed entries; the second appointment is the hidden wait a first one can hide \
         ({} recorded). Dashed mark: 6 weeks.</figcaption></figure>\
         <table><caption>Time to appointment (the chart's numbers)</caption><thead><tr><th scope=\"col\">Measure</th>\
         <th scope=\"col\">Median days</th></tr></thead><tbody>\
         <tr><th scope=\"row\">First appointment</th><td>{first:.1}</td></tr>\
         <tr><th scope=\"row\">Second appointment</th><td>{second:.1}</td></tr></tbody></table></section>",
        mine.second_appointments_recorded
    );

    let series = length_by_band(&mine.length_by_band);
    let last = series.last().map(|(_, c)| *c).unwrap_or_default();
    let lines = line_chart(
        "length",
        "Waitlist length by band, last 12 weeks",
        &format!(
            "Entries on the waitlist each week by band: today urgent {}, soon {}, routine {}.",
            last[0], last[1], last[2]
        ),
        &series,
    );
    html!(
        m,
        "<section aria-labelledby=\"len-h\"><h2 id=\"len-h\">Waitlist length by band over time</h2><figure>{lines}\
         <figcaption>Each week counts the clients on the list then, in the band they were in then (a check-in that \
         re-banded a client moves them between lines; clients since placed or removed count in the weeks they \
         waited). Lines: urgent solid, soon dashed, routine dotted.</figcaption></figure>\
         <table><caption>Waitlist length by band (the chart's numbers)</caption><thead><tr><th scope=\"col\">Week of</th>\
         <th scope=\"col\">Urgent</th><th scope=\"col\">Soon</th><th scope=\"col\">Routine</th></tr></thead><tbody>"
    );
    for (at, c) in &series {
        html!(
            m,
            "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{}</td></tr>",
            at.format("%Y-%m-%d"),
            c[0],
            c[1],
            c[2]
        );
    }
    html!(m, "</tbody></table></section>");
    Ok(render(StatusCode::OK, "Wait metrics", Nav::Metrics, Some(&signed), &m))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_length_series_keeps_the_waitlists_points_in_order() {
        let point = |day: i64, urgent, soon, routine| wpb::WaitlistLengthPoint {
            at: Some(prost_types::Timestamp { seconds: day * 86_400, nanos: 0 }),
            urgent,
            soon,
            routine,
        };
        let series = length_by_band(&[point(1, 1, 0, 2), point(8, 0, 3, -1), point(15, 2, 2, 2)]);
        assert_eq!(series.len(), 3);
        assert_eq!(series[0].0, DateTime::from_timestamp(86_400, 0).unwrap());
        assert_eq!(series[0].1, [1, 0, 2]);
        assert_eq!(series[1].1, [0, 3, 0], "a negative count (never sent) is shown as 0");
        assert_eq!(series[2].1, [2, 2, 2]);
    }

    #[test]
    fn charts_carry_a_title_a_description_and_escaped_text() {
        let svg =
            bar_chart("x", "T <1>", "D & d", &[("<b>".to_owned(), 50.0, Some(75.0))], 100.0, "%");
        assert!(svg.contains("role=\"img\""));
        assert!(svg.contains("<title id=\"x-t\">T &lt;1&gt;</title>"));
        assert!(svg.contains("<desc id=\"x-d\">D &amp; d</desc>"));
        assert!(svg.contains("&lt;b&gt;"));
        assert!(!svg.contains("<b>"));
        let series = vec![(Utc::now(), [1, 2, 3]), (Utc::now(), [2, 2, 3])];
        let lines = line_chart("y", "L", "D", &series);
        assert_eq!(lines.matches("<polyline").count(), 3);
    }
}
