//! Where atomic files come from.
//!
//! Lookup order without an explicit folder ([`Catalog::load_default`]):
//! 1. the project's own tests, `atomics/<T>/<T>.yaml`, embedded in the binary at build time
//!    (so they work from any directory);
//! 2. Atomic Red Team's file for the technique, from the first folder that exists of:
//!    `$NATIVEGUARD_ART_ATOMICS`, `<repository>/../shared/datasets/atomic-red-team/atomics`
//!    (the repository this binary was built from), and `../shared/datasets/atomic-red-team/atomics`
//!    relative to the current directory.
//!
//! Both are listed, shipped tests first. With an explicit folder ([`Catalog::load_dir`]) only
//! `<folder>/<T>/<T>.yaml` files are read.

use crate::error::Error;
use crate::model::{is_technique_id, Technique};
use crate::validate::Validator;
use std::path::{Path, PathBuf};

/// A technique file shipped inside the binary.
#[derive(Debug, Clone, Copy)]
pub struct ShippedFile {
    /// Technique id.
    pub technique: &'static str,
    /// Path in the repository.
    pub path: &'static str,
    /// The file.
    pub text: &'static str,
}

/// The project's own atomic files.
pub const SHIPPED: &[ShippedFile] = &[ShippedFile {
    technique: "T1106",
    path: "atomics/T1106/T1106.yaml",
    text: include_str!("../../../atomics/T1106/T1106.yaml"),
}];

/// Environment variable naming Atomic Red Team's `atomics` folder.
pub const ART_ENV: &str = "NATIVEGUARD_ART_ATOMICS";
const ART_RELATIVE: &str = "../shared/datasets/atomic-red-team/atomics";

/// A loaded technique file and the folder `PathToAtomicsFolder` stands for in its commands.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The technique and its valid tests.
    pub technique: Technique,
    /// Its atomics folder.
    pub atomics_folder: PathBuf,
}

/// Every technique file read, and every problem met.
#[derive(Debug, Default)]
pub struct Catalog {
    /// Loaded files, in lookup order.
    pub files: Vec<Loaded>,
    /// Invalid files and tests (the rest still loaded).
    pub errors: Vec<Error>,
    /// Atomic Red Team's folder, when one was found (default lookup only).
    pub art_folder: Option<PathBuf>,
}

impl Catalog {
    /// Loads `<dir>/<T>/<T>.yaml` for `technique`, or for every technique folder when `None`.
    pub fn load_dir(dir: &Path, technique: Option<&str>) -> Result<Catalog, Error> {
        let mut catalog = Catalog::default();
        let mut validator = Validator::new();
        catalog.read_dir(dir, technique, &mut validator)?;
        Ok(catalog)
    }

    /// Loads the shipped tests and Atomic Red Team's (see the module documentation).
    pub fn load_default(technique: Option<&str>) -> Result<Catalog, Error> {
        let mut catalog = Catalog::default();
        let mut validator = Validator::new();
        let shipped_folder = shipped_atomics_folder();
        for file in SHIPPED {
            if technique.is_some_and(|t| t != file.technique) {
                continue;
            }
            let parsed = validator.check_file(&format!("shipped:{}", file.path), file.text);
            catalog.errors.extend(parsed.errors);
            if let Some(technique) = parsed.technique {
                catalog.files.push(Loaded {
                    technique,
                    atomics_folder: shipped_folder.clone(),
                });
            }
        }
        if let Some(named) = std::env::var_os(ART_ENV) {
            // Fail closed: a folder named explicitly must exist rather than be skipped.
            let named = PathBuf::from(named);
            if !named.is_dir() {
                return Err(Error::Io {
                    path: named,
                    source: std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        format!("{ART_ENV} does not name a directory"),
                    ),
                });
            }
        }
        if let Some(art) = art_atomics_folder() {
            catalog.read_dir(&art, technique, &mut validator)?;
            catalog.art_folder = Some(art);
        }
        Ok(catalog)
    }

    /// Every test with its file, in order: (file, test).
    pub fn tests(&self) -> impl Iterator<Item = (&Loaded, &crate::model::AtomicTest)> {
        self.files
            .iter()
            .flat_map(|f| f.technique.tests.iter().map(move |t| (f, t)))
    }

    fn read_dir(
        &mut self,
        dir: &Path,
        technique: Option<&str>,
        validator: &mut Validator,
    ) -> Result<(), Error> {
        let names: Vec<String> = match technique {
            Some(t) => {
                if !is_technique_id(t) {
                    return Err(Error::TechniqueId(t.to_owned()));
                }
                vec![t.to_owned()]
            }
            None => {
                let entries = std::fs::read_dir(dir).map_err(|source| Error::Io {
                    path: dir.to_owned(),
                    source,
                })?;
                let mut names: Vec<String> = entries
                    .filter_map(|e| e.ok())
                    .filter(|e| e.path().is_dir())
                    .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                    .filter(|n| is_technique_id(n))
                    .collect();
                names.sort();
                names
            }
        };
        for name in names {
            let folder = dir.join(&name);
            let file = folder.join(format!("{name}.yaml"));
            if !file.is_file() {
                if technique.is_none() {
                    self.errors.push(Error::Io {
                        path: file,
                        source: std::io::ErrorKind::NotFound.into(),
                    });
                }
                continue;
            }
            if let Ok(entries) = std::fs::read_dir(&folder) {
                for entry in entries.filter_map(|e| e.ok()) {
                    if entry.path().is_dir() {
                        self.errors
                            .extend(validator.check_entry(&entry.path()).errors);
                    }
                }
            }
            let parsed = validator.check_entry(&file);
            self.errors.extend(parsed.errors);
            if let Some(technique) = parsed.technique {
                self.files.push(Loaded {
                    technique,
                    atomics_folder: dir.to_owned(),
                });
            }
        }
        Ok(())
    }
}

/// The repository's `atomics/` folder when the binary runs where it was built, else `.`.
fn shipped_atomics_folder() -> PathBuf {
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../atomics");
    if built.is_dir() {
        built.canonicalize().unwrap_or(built)
    } else {
        PathBuf::from(".")
    }
}

/// Atomic Red Team's `atomics` folder, if one of the lookup locations exists.
pub fn art_atomics_folder() -> Option<PathBuf> {
    let from_env = std::env::var_os(ART_ENV).map(PathBuf::from);
    let beside_repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(ART_RELATIVE);
    let beside_cwd = PathBuf::from(ART_RELATIVE);
    [from_env, Some(beside_repo), Some(beside_cwd)]
        .into_iter()
        .flatten()
        .find(|p| p.is_dir())
        .map(|p| p.canonicalize().unwrap_or(p))
}
