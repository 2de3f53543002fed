//! Markdown in the seed page's own shape: technique, Policy / Process Controls, Technical
//! Controls, Offensive Security Tests, with a result beside every entry.

use std::fmt::Write as _;

use super::{detection_text, prevention_text, rule_status_text};
use crate::model::{Report, RuleOrigin, RuleResult, TestSource};

/// Escapes text for a Markdown table cell or list item.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// ` — **result** — title (`id`, level L): evidence`, to follow an entry on its own line.
fn rule_result(rule: &RuleResult) -> String {
    format!(
        " — **{}** — {} (`{}`, level {}): {}",
        rule_status_text(rule.result),
        cell(&rule.title),
        rule.id,
        rule.level.as_deref().unwrap_or("-"),
        cell(&rule.evidence)
    )
}

/// Renders the report as Markdown.
pub fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let t = &report.technique_info;
    let control = report.analysis_control.kind.as_str();
    let _ = writeln!(out, "# {}: {}", t.id, t.name);
    let _ = writeln!(
        out,
        "**MITRE ATT&CK Tactic(s):** {}\n",
        t.tactics.join(", ")
    );
    let _ = writeln!(out, "**[MITRE ATT&CK Description]({})**", t.url);
    let _ = writeln!(
        out,
        "<blockquote>{}</blockquote>\n",
        t.description.replace("\n\n", "<br><br>")
    );
    let _ = writeln!(
        out,
        "<sub>Excerpt of ATT&CK v{} (technique {}). {} <a href=\"{}\">ATT&CK Terms of Use</a>.</sub>\n",
        t.attack_version, t.id, t.attribution, t.terms_url
    );

    let verdict = if report.passed() {
        "**Result: every control acted as expected.**".to_string()
    } else {
        format!(
            "**Result: {} control failure(s), {} error(s).**",
            report.failures.len(),
            report.errors.len()
        )
    };
    let _ = writeln!(
        out,
        "## Validation by nativeguard {}\n",
        report.nativeguard_version
    );
    let _ = writeln!(out, "{verdict}\n");
    let _ = writeln!(out, "- Run: {}", report.generated);
    let a = &report.analysis_control;
    let _ = writeln!(
        out,
        "- Analysis control: **{control}** (`{}`): {}",
        a.command, a.reason
    );
    let _ = writeln!(out, "- Linux rules: {}", a.rules);
    let p = &report.prevention_control;
    let _ = writeln!(
        out,
        "- Prevention control: `{}` (seccomp: {}; Landlock: {})",
        p.command, p.policy, p.landlock
    );
    let n = &report.totals;
    let _ = writeln!(out, "\n| totals | passed | checked |\n|---|---|---|");
    let _ = writeln!(
        out,
        "| detection (Linux tests) | {} | {} |",
        n.detection_passed, n.detection_checked
    );
    let _ = writeln!(
        out,
        "| prevention (Linux tests) | {} | {} |",
        n.prevention_passed, n.prevention_checked
    );
    let _ = writeln!(
        out,
        "| rules validated (live / on samples) | {} / {} | {} |",
        n.rules_validated_live, n.rules_validated_on_samples, n.rules
    );
    let _ = writeln!(
        out,
        "\nTests: {} listed, {} ran, {} skipped (other platform), {} could not run. Rules: {} failed, \
         {} without a sample, {} not exercised by any test, {} missing. Validated coverage: {}%.\n",
        n.tests, n.tests_ran, n.tests_skipped, n.tests_error, n.rules_failed, n.rules_no_sample,
        n.rules_not_exercised, n.rules_missing, n.coverage_percent
    );

    let _ = writeln!(out, "## Policy / Process Controls");
    let _ = writeln!(out, "### [MITRE D3FEND](https://d3fend.mitre.org/)\n");
    let _ = writeln!(
        out,
        "**ATT&CK-mapped resources for this (sub)technique:** {}\n",
        report.policy_controls.len()
    );
    for c in &report.policy_controls {
        let word = if c.validated {
            "validated"
        } else {
            "NOT VALIDATED"
        };
        let _ = writeln!(
            out,
            "* [{}]({}) ({}) — **{word}** — {} — by {}",
            c.name, c.url, c.id, c.result, c.implemented_by
        );
    }

    let _ = writeln!(out, "\n## Technical Controls (Detection Rules)");
    let _ = writeln!(
        out,
        "### [Sigma rules public repository](https://github.com/SigmaHQ/sigma)\n"
    );
    let seeds: Vec<&RuleResult> = report
        .rules
        .iter()
        .filter(|r| r.origin == RuleOrigin::Seed)
        .collect();
    let _ = writeln!(
        out,
        "**ATT&CK-mapped resources for this (sub)technique:** {} (Windows rules: validated on committed \
         sample events, since they cannot run live on Linux)\n",
        seeds.len()
    );
    for rule in &seeds {
        let seed_path = rule.seed_path.as_deref().unwrap_or(&rule.id);
        let link = match &rule.seed_url {
            Some(url) => format!("[{seed_path}]({url})"),
            None => seed_path.to_string(),
        };
        let _ = writeln!(out, "* {link}{}", rule_result(rule));
        if let Some(current) = &rule.current_path {
            let _ = writeln!(out, "  — now `{current}`");
        }
        if let Some(note) = &rule.note {
            let _ = writeln!(out, "  — note: {}", cell(note));
        }
    }
    let others: Vec<&RuleResult> = report
        .rules
        .iter()
        .filter(|r| r.origin == RuleOrigin::SigmaHq)
        .collect();
    if !others.is_empty() {
        let _ = writeln!(
            out,
            "\nOther rules of nativeguard's embedded Windows set (T1106-tagged SigmaHQ rules and the \
             deprecated rules' successors):\n"
        );
        for rule in others {
            let path = rule.path.as_deref().unwrap_or(&rule.id);
            let _ = writeln!(out, "* `{path}`{}", rule_result(rule));
        }
    }

    let _ = writeln!(
        out,
        "\n### [Splunk Security Content](https://github.com/splunk/security_content)\n"
    );
    let _ = writeln!(
        out,
        "**ATT&CK-mapped resources for this (sub)technique:** {} (ported to Sigma by nativeguard)\n",
        report.splunk.len()
    );
    for s in &report.splunk {
        let word = if s.validated {
            "validated on samples"
        } else {
            "NOT VALIDATED"
        };
        let _ = writeln!(
            out,
            "* [{}]({}) — **{word}** — {}: {}",
            s.seed_path,
            s.seed_url,
            s.port_rule_id.as_deref().map_or_else(
                || "no Sigma port in the rule set".to_string(),
                |id| format!("Sigma port `{id}`")
            ),
            cell(&s.evidence)
        );
    }

    let linux: Vec<&RuleResult> = report
        .rules
        .iter()
        .filter(|r| r.origin == RuleOrigin::Linux)
        .collect();
    let _ = writeln!(out, "\n### Linux rules (run live by the {control})\n");
    for rule in linux {
        let path = rule.path.as_deref().unwrap_or("not in the rule set");
        let _ = writeln!(out, "* `{path}`{}", rule_result(rule));
    }

    let _ = writeln!(out, "\n## Offensive Security Tests");
    let _ = writeln!(
        out,
        "### [Atomic Red Team](https://github.com/redcanaryco/atomic-red-team)\n"
    );
    for test in report
        .tests
        .iter()
        .filter(|t| t.source == TestSource::AtomicRedTeam)
    {
        let _ = writeln!(
            out,
            "* {} — **{}** ({})",
            test.name,
            detection_text(test, control),
            test.guid.as_deref().unwrap_or("no guid")
        );
    }
    let _ = writeln!(
        out,
        "\n### nativeguard Linux T1106 tests (`nativeguard emulate`)\n"
    );
    let _ = writeln!(
        out,
        "| test | emulation | detection ({control}) | rules fired | latency | prevention (sandbox) |\n|---|---|---|---|---|---|"
    );
    for test in report
        .tests
        .iter()
        .filter(|t| t.source == TestSource::Nativeguard)
    {
        let _ = writeln!(
            out,
            "| {} | `{}` | **{}** | {} | {} | **{}** |",
            cell(&test.name),
            test.emulation.as_deref().unwrap_or("-"),
            cell(&detection_text(test, control)),
            if test.rules.is_empty() {
                "-".to_string()
            } else {
                test.rules.join(", ")
            },
            test.latency_ms
                .map_or_else(|| "-".to_string(), |l| format!("{l} ms")),
            cell(&prevention_text(test))
        );
    }

    if !report.failures.is_empty() {
        let _ = writeln!(out, "\n## Failures\n");
        for f in &report.failures {
            let _ = writeln!(
                out,
                "- **{}** ({}): {}",
                cell(&f.entry),
                f.control,
                cell(&f.message)
            );
        }
    }
    if !report.errors.is_empty() {
        let _ = writeln!(out, "\n## Errors (checks that could not run)\n");
        for e in &report.errors {
            let _ = writeln!(out, "- {}", cell(e));
        }
    }
    if !report.notes.is_empty() {
        let _ = writeln!(out, "\n## Notes\n");
        for note in &report.notes {
            let _ = writeln!(out, "- {}", cell(note));
        }
    }
    out
}
