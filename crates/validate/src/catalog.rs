//! What the report needs to know about a rule file without compiling it: id, title, level,
//! status, author. Read from the Linux rules in use (embedded or `--rules`), so a rule removed
//! from the set shows up as missing rather than as "did not fire".

use serde::Deserialize;

use crate::Error;

/// The longest rule file read (the largest SigmaHQ rule is well under this).
pub const MAX_RULE_FILE_BYTES: usize = 1 << 20;

/// A rule's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleMeta {
    /// Rule id.
    pub id: String,
    /// Rule title.
    pub title: String,
    /// Sigma level.
    pub level: Option<String>,
    /// Sigma status.
    pub status: Option<String>,
    /// Author (DRL 1.1).
    pub author: Option<String>,
    /// The file it came from.
    pub path: String,
}

#[derive(Deserialize)]
struct Header {
    id: Option<String>,
    title: Option<String>,
    level: Option<String>,
    status: Option<String>,
    author: Option<String>,
}

/// Reads every YAML document of every file; a document without an id is skipped (filters and
/// fragments), a file that is not YAML is an error that names it and the run goes on.
pub fn read_rules<'a>(
    files: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> (Vec<RuleMeta>, Vec<Error>) {
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    for (path, text) in files {
        if text.len() > MAX_RULE_FILE_BYTES {
            errors.push(Error::Rule {
                path: path.to_string(),
                line: None,
                message: format!("over the {MAX_RULE_FILE_BYTES}-byte limit"),
            });
            continue;
        }
        for document in serde_norway::Deserializer::from_str(text) {
            match Header::deserialize(document) {
                Ok(Header {
                    id: Some(id),
                    title,
                    level,
                    status,
                    author,
                }) => rules.push(RuleMeta {
                    title: title.unwrap_or_else(|| id.clone()),
                    id,
                    level,
                    status,
                    author,
                    path: path.to_string(),
                }),
                Ok(_) => {}
                Err(err) => {
                    errors.push(Error::Rule {
                        path: path.to_string(),
                        line: err.location().map(|l| l.line()),
                        message: err.to_string(),
                    });
                    break;
                }
            }
        }
    }
    (rules, errors)
}

/// Reads `.yml`/`.yaml` files below each path (files or directories, recursively, sorted).
pub fn read_rule_paths(paths: &[std::path::PathBuf]) -> Result<Vec<(String, String)>, Error> {
    let mut files = Vec::new();
    for path in paths {
        collect(path, &mut files)?;
    }
    files.sort();
    let mut out = Vec::with_capacity(files.len());
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|source| Error::Io {
            what: format!("reading rule file {}", file.display()),
            source,
        })?;
        out.push((file.display().to_string(), text));
    }
    Ok(out)
}

fn collect(path: &std::path::Path, out: &mut Vec<std::path::PathBuf>) -> Result<(), Error> {
    let meta = std::fs::metadata(path).map_err(|source| Error::Io {
        what: format!("reading {}", path.display()),
        source,
    })?;
    if meta.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let entries = std::fs::read_dir(path).map_err(|source| Error::Io {
        what: format!("listing {}", path.display()),
        source,
    })?;
    for entry in entries.flatten() {
        let child = entry.path();
        if child.is_dir() {
            collect(&child, out)?;
        } else if child.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            out.push(child);
        }
    }
    Ok(())
}

/// Sigma levels in order; unknown levels rank lowest.
pub fn level_rank(level: &str) -> u8 {
    match level.to_ascii_lowercase().as_str() {
        "informational" => 1,
        "low" => 2,
        "medium" => 3,
        "high" => 4,
        "critical" => 5,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_document_and_reports_bad_files() {
        let good =
            "title: A\nid: 1\nlevel: high\nauthor: X\n---\ntitle: B\nid: 2\n---\naction: global\n";
        let bad = "title: [unclosed\n";
        let (rules, errors) = read_rules([("good.yml", good), ("bad.yml", bad)]);
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].level.as_deref(), Some("high"));
        assert_eq!(rules[1].title, "B");
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].to_string().starts_with("bad.yml"),
            "{}",
            errors[0]
        );
    }

    #[test]
    fn oversized_rule_file_is_an_error() {
        let big = "#".repeat(MAX_RULE_FILE_BYTES + 1);
        let (rules, errors) = read_rules([("big.yml", big.as_str())]);
        assert!(rules.is_empty());
        assert!(errors[0].to_string().contains("limit"));
    }

    #[test]
    fn levels_rank_in_sigma_order() {
        assert!(level_rank("low") > level_rank("informational"));
        assert!(level_rank("critical") > level_rank("High"));
        assert_eq!(level_rank("bogus"), 0);
    }
}
