//! Rules that span files: file names, directory names and GUID reuse.

use crate::error::Error;
use crate::model::{parse_technique, Parsed};
use std::collections::HashMap;
use std::path::Path;

/// Validates atomic files and directories the way Atomic Red Team's `validator.py` does,
/// remembering GUIDs across every file it has seen so that a reused GUID is caught even when the
/// two tests live in different files.
#[derive(Debug, Default)]
pub struct Validator {
    /// GUID -> "path test N" of its first use.
    guids: HashMap<String, String>,
}

impl Validator {
    /// A validator that has seen no GUIDs yet.
    pub fn new() -> Validator {
        Validator::default()
    }

    /// Validates one directory entry: a `*.yaml`/`*.yml` file is read and checked; a directory
    /// inside a technique's folder must be `src` or `bin`. Other files are ignored (no errors).
    pub fn check_entry(&mut self, path: &Path) -> Parsed {
        let shown = path.display().to_string();
        if path.is_dir() {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let errors = if matches!(name, "src" | "bin") {
                Vec::new()
            } else {
                vec![Error::Invalid {
                    path: shown,
                    line: 0,
                    field: "directory".into(),
                    code: "invalid_directory",
                    message: format!("'{name}': src and bin are the only directories supported"),
                }]
            };
            return Parsed {
                technique: None,
                errors,
            };
        }
        let is_yaml = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e == "yaml" || e == "yml");
        if !is_yaml {
            return Parsed {
                technique: None,
                errors: Vec::new(),
            };
        }
        match std::fs::read(path) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => self.check_file(&shown, &text),
                Err(e) => Parsed {
                    technique: None,
                    errors: vec![Error::Yaml {
                        path: shown,
                        line: 0,
                        col: 0,
                        message: format!("not UTF-8 (byte {})", e.utf8_error().valid_up_to()),
                    }],
                },
            },
            Err(source) => Parsed {
                technique: None,
                errors: vec![Error::Io {
                    path: path.to_owned(),
                    source,
                }],
            },
        }
    }

    /// Validates one file's text; `path` names it (its extension is checked: `.yml` is refused).
    /// Tests whose GUID an earlier test used are rejected.
    pub fn check_file(&mut self, path: &str, text: &str) -> Parsed {
        let mut parsed = parse_technique(path, text);
        if path.ends_with(".yml") {
            parsed.errors.insert(
                0,
                Error::Invalid {
                    path: path.to_owned(),
                    line: 0,
                    field: "filename".into(),
                    code: "invalid_filename",
                    message: "rename the file from .yml to .yaml".into(),
                },
            );
        }
        if let Some(technique) = &mut parsed.technique {
            let mut kept = Vec::with_capacity(technique.tests.len());
            for test in technique.tests.drain(..) {
                let Some(guid) = &test.guid else {
                    kept.push(test);
                    continue;
                };
                match self.guids.get(guid) {
                    Some(first) => parsed.errors.push(Error::Invalid {
                        path: path.to_owned(),
                        line: test.line,
                        field: format!("atomic_tests[{}].auto_generated_guid", test.number - 1),
                        code: "reused_guid",
                        message: format!(
                            "GUID {guid} of test '{}' is already used by {first}",
                            test.name
                        ),
                    }),
                    None => {
                        self.guids
                            .insert(guid.clone(), format!("{path} test {}", test.number));
                        kept.push(test);
                    }
                }
            }
            technique.tests = kept;
        }
        parsed
    }
}
