//! A self-contained HTML page (inline CSS, no script, no external asset) with the tests ×
//! controls matrix.

use std::fmt::Write as _;

use super::{detection_text, prevention_text, rule_status_text};
use crate::catalog::level_rank;
use crate::model::{Report, RuleOrigin, RuleStatus, TestResult, TestStatus, Verdict};

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:78em;color:#222}\
h1{margin-bottom:.2em}blockquote{border-left:4px solid #ccc;margin:1em 0;padding:.2em 1em;color:#444}\
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:.3em .5em;vertical-align:top}\
th{background:#f3f3f3}.pass{background:#dff5d8}.fail{background:#ffd9d6;font-weight:bold}\
.skip{background:#eee;color:#666}.info{background:#fff6d5}.none{color:#aaa;text-align:center}\
small{color:#666}code{font-size:90%}";

/// Escapes text for HTML element content and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn rule_class(status: RuleStatus) -> &'static str {
    match status {
        RuleStatus::ValidatedLive | RuleStatus::ValidatedOnSamples => "pass",
        RuleStatus::Failed | RuleStatus::Missing => "fail",
        RuleStatus::NoSample | RuleStatus::NotExercised => "skip",
    }
}

fn verdict_class(test: &TestResult, verdict: Verdict) -> &'static str {
    match (test.status, verdict) {
        (TestStatus::Skipped, _) | (_, Verdict::NotRun) => "skip",
        (_, Verdict::Pass) => "pass",
        (_, Verdict::Fail) => "fail",
    }
}

/// One matrix cell: what a rule did on a test.
fn rule_cell(test: &TestResult, rule_id: &str) -> (String, &'static str) {
    if test.status == TestStatus::Skipped || test.detection == Verdict::NotRun {
        return ("–".into(), "skip");
    }
    let expected = test.expected_rules.iter().any(|r| r == rule_id);
    let alert = test.alerts.iter().find(|a| a.id == rule_id);
    match (expected, alert) {
        (true, Some(a)) => (format!("✔ fired, {} ms", a.latency_ms), "pass"),
        (true, None) => ("✘ missed".into(), "fail"),
        (false, Some(a)) if test.baseline && level_rank(&a.level) >= level_rank("low") => {
            (format!("✘ false positive ({})", a.level), "fail")
        }
        (false, Some(a)) => (format!("fired ({}), not expected", a.level), "info"),
        (false, None) => ("·".into(), "none"),
    }
}

/// Renders the report as one HTML page.
pub fn html(report: &Report) -> String {
    let mut out = String::new();
    let t = &report.technique_info;
    let control = report.analysis_control.kind.as_str();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>nativeguard validate {}: {}</title><style>{STYLE}</style></head><body>\n",
        esc(&t.id),
        esc(&t.name)
    );
    let _ = writeln!(out, "<h1>{}: {}</h1>", esc(&t.id), esc(&t.name));
    let _ = writeln!(
        out,
        "<p><b>MITRE ATT&amp;CK Tactic(s):</b> {}</p>",
        esc(&t.tactics.join(", "))
    );
    let _ = writeln!(
        out,
        "<p><b><a href=\"{}\">MITRE ATT&amp;CK Description</a></b></p><blockquote>{}</blockquote>",
        esc(&t.url),
        esc(&t.description).replace("\n\n", "<br><br>")
    );
    let _ = writeln!(
        out,
        "<p><small>Excerpt of ATT&amp;CK v{}. {} <a href=\"{}\">ATT&amp;CK Terms of Use</a>.</small></p>",
        esc(&t.attack_version),
        esc(&t.attribution),
        esc(&t.terms_url)
    );

    let (class, verdict) = if report.passed() {
        ("pass", "Every control acted as expected.".to_string())
    } else {
        (
            "fail",
            format!(
                "{} control failure(s), {} error(s).",
                report.failures.len(),
                report.errors.len()
            ),
        )
    };
    let _ = writeln!(
        out,
        "<h2>Validation by nativeguard {}</h2><p id=\"verdict\" class=\"{class}\">{}</p>",
        esc(&report.nativeguard_version),
        esc(&verdict)
    );
    let a = &report.analysis_control;
    let p = &report.prevention_control;
    let _ = writeln!(
        out,
        "<ul><li>Run: {}</li><li>Analysis control: <b>{control}</b> (<code>{}</code>): {}</li>\
         <li>Linux rules: {}</li><li>Prevention control: <code>{}</code> (seccomp: {}; Landlock: {})</li></ul>",
        esc(&report.generated),
        esc(&a.command),
        esc(&a.reason),
        esc(&a.rules),
        esc(&p.command),
        esc(&p.policy),
        esc(&p.landlock)
    );
    let n = &report.totals;
    let _ = writeln!(
        out,
        "<table id=\"totals\"><tr><th>totals</th><th>passed</th><th>checked</th></tr>\
         <tr><td>detection (Linux tests)</td><td>{}</td><td>{}</td></tr>\
         <tr><td>prevention (Linux tests)</td><td>{}</td><td>{}</td></tr>\
         <tr><td>rules validated (live / on samples)</td><td>{} / {}</td><td>{}</td></tr>\
         <tr><td>validated coverage</td><td colspan=\"2\">{}%</td></tr></table>",
        n.detection_passed,
        n.detection_checked,
        n.prevention_passed,
        n.prevention_checked,
        n.rules_validated_live,
        n.rules_validated_on_samples,
        n.rules,
        n.coverage_percent
    );

    // The matrix: every test × the analysis control, each Linux rule some test expects, the
    // sandbox.
    let mut columns: Vec<(&str, String)> = Vec::new();
    for rule in report
        .rules
        .iter()
        .filter(|r| r.origin == RuleOrigin::Linux)
    {
        let expected = report
            .tests
            .iter()
            .any(|t| t.expected_rules.contains(&rule.id));
        let fired = report.tests.iter().any(|t| t.rules.contains(&rule.id));
        if expected || fired {
            columns.push((rule.id.as_str(), rule.title.clone()));
        }
    }
    let _ = writeln!(out, "<h2>Tests × controls</h2>");
    let _ = write!(
        out,
        "<table id=\"matrix\"><thead><tr><th>test</th><th data-control=\"{control}\">{control} (D3-SCA)</th>"
    );
    for (id, title) in &columns {
        let _ = write!(
            out,
            "<th data-control=\"{}\" title=\"{}\">{}<br><small>{}</small></th>",
            esc(id),
            esc(id),
            esc(title),
            esc(short_id(id))
        );
    }
    let _ = writeln!(
        out,
        "<th data-control=\"sandbox\">sandbox (D3-SCF)</th></tr></thead><tbody>"
    );
    for test in &report.tests {
        let _ = write!(
            out,
            "<tr data-test=\"{}\"><th>{}<br><small>{} · {}</small></th>",
            esc(test.emulation.as_deref().unwrap_or(&test.name)),
            esc(&test.name),
            esc(&test.platform),
            esc(test.guid.as_deref().unwrap_or("no guid"))
        );
        let _ = write!(
            out,
            "<td class=\"{}\">{}</td>",
            verdict_class(test, test.detection),
            esc(&detection_text(test, control))
        );
        for (id, _) in &columns {
            let (text, class) = rule_cell(test, id);
            let _ = write!(out, "<td class=\"{class}\">{}</td>", esc(&text));
        }
        let _ = writeln!(
            out,
            "<td class=\"{}\">{}</td></tr>",
            verdict_class(test, test.prevention),
            esc(&prevention_text(test))
        );
    }
    let _ = writeln!(out, "</tbody></table>");

    let _ = writeln!(
        out,
        "<h2>Policy / Process Controls</h2><h3><a href=\"https://d3fend.mitre.org/\">MITRE D3FEND</a></h3><ul>"
    );
    for c in &report.policy_controls {
        let class = if c.validated { "pass" } else { "fail" };
        let _ = writeln!(
            out,
            "<li><a href=\"{}\">{}</a> ({}) — <span class=\"{class}\">{}</span> — {}</li>",
            esc(&c.url),
            esc(&c.name),
            esc(&c.id),
            esc(&c.result),
            esc(&c.implemented_by)
        );
    }
    let _ = writeln!(out, "</ul>");

    let _ = writeln!(
        out,
        "<h2>Technical Controls (Detection Rules)</h2><table id=\"rules\"><thead><tr><th>rule</th>\
         <th>origin</th><th>result</th><th>evidence</th></tr></thead><tbody>"
    );
    for rule in &report.rules {
        let origin = match rule.origin {
            RuleOrigin::Seed => "seed Sigma rule",
            RuleOrigin::SigmaHq => "SigmaHQ (embedded set)",
            RuleOrigin::SplunkPort => "Splunk port",
            RuleOrigin::Linux => "Linux",
        };
        let name = match (&rule.seed_path, &rule.seed_url) {
            (Some(path), Some(url)) => format!("<a href=\"{}\">{}</a>", esc(url), esc(path)),
            _ => format!(
                "<code>{}</code>",
                esc(rule.path.as_deref().unwrap_or(&rule.id))
            ),
        };
        let _ = writeln!(
            out,
            "<tr><td>{name}<br>{} <small>{}</small></td><td>{origin}</td><td class=\"{}\">{}</td><td>{}</td></tr>",
            esc(&rule.title),
            esc(&rule.id),
            rule_class(rule.result),
            rule_status_text(rule.result),
            esc(&rule.evidence)
        );
    }
    let _ = writeln!(out, "</tbody></table><h3>Splunk Security Content</h3><ul>");
    for s in &report.splunk {
        let class = if s.validated { "pass" } else { "fail" };
        let _ = writeln!(
            out,
            "<li><a href=\"{}\">{}</a> — <span class=\"{class}\">{}</span>: {}</li>",
            esc(&s.seed_url),
            esc(&s.seed_path),
            if s.validated {
                "validated on samples"
            } else {
                "not validated"
            },
            esc(&s.evidence)
        );
    }
    let _ = writeln!(out, "</ul>");

    for (id, title, items) in [
        (
            "failures",
            "Failures",
            report
                .failures
                .iter()
                .map(|f| format!("{} ({}): {}", f.entry, f.control, f.message))
                .collect::<Vec<_>>(),
        ),
        (
            "errors",
            "Errors (checks that could not run)",
            report.errors.clone(),
        ),
        ("notes", "Notes", report.notes.clone()),
    ] {
        if items.is_empty() {
            continue;
        }
        let _ = writeln!(out, "<h2>{title}</h2><ul id=\"{id}\">");
        for item in items {
            let _ = writeln!(out, "<li>{}</li>", esc(&item));
        }
        let _ = writeln!(out, "</ul>");
    }
    let _ = writeln!(out, "</body></html>");
    out
}

/// The first eight characters of a rule id (a UUID's first group), cut on a character
/// boundary: ids of user rules need not be ASCII.
fn short_id(id: &str) -> &str {
    id.char_indices().nth(8).map_or(id, |(end, _)| &id[..end])
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
