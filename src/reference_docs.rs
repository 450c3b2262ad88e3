//! `userlake docs`: writes the function reference (`docs/functions/`) generated from the
//! functions' documentation in code, or checks that the pages there are current.

use std::path::{Path, PathBuf};

use userlake_udfs::docs::reference_pages;

use crate::error::{Error, Result};

/// The reference's directory in the repository, where `userlake docs` writes by default.
pub const REFERENCE_DIRECTORY: &str = "docs/functions";

/// The pages of `directory` that differ from the generated ones, are missing, or are no longer
/// generated (a Markdown file of a family that is gone).
pub fn stale_pages(directory: &Path) -> Result<Vec<PathBuf>> {
    let pages = reference_pages();
    let mut stale = Vec::new();
    for page in &pages {
        let path = directory.join(&page.file);
        match std::fs::read_to_string(&path) {
            Ok(text) if text == page.markdown => {}
            Ok(_) => stale.push(path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => stale.push(path),
            Err(e) => return Err(Error::io(path, e)),
        }
    }
    if directory.is_dir() {
        let entries = std::fs::read_dir(directory).map_err(|e| Error::io(directory, e))?;
        for entry in entries {
            let path = entry.map_err(|e| Error::io(directory, e))?.path();
            let generated = path
                .file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| pages.iter().any(|p| p.file == name));
            if path.extension().is_some_and(|e| e == "md") && !generated {
                stale.push(path);
            }
        }
    }
    stale.sort();
    Ok(stale)
}

/// Writes every page into `directory` (created if missing) and removes Markdown files there
/// that are no longer generated; returns the number of pages written.
pub fn write_reference(directory: &Path) -> Result<usize> {
    std::fs::create_dir_all(directory).map_err(|e| Error::io(directory, e))?;
    let pages = reference_pages();
    for path in stale_pages(directory)? {
        if !pages.iter().any(|p| directory.join(&p.file) == path) {
            std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        }
    }
    for page in &pages {
        let path = directory.join(&page.file);
        std::fs::write(&path, &page.markdown).map_err(|e| Error::io(&path, e))?;
    }
    Ok(pages.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed reference is what the code's documentation generates.
    #[test]
    fn the_function_reference_is_current() {
        let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join(REFERENCE_DIRECTORY);
        let stale = stale_pages(&directory).expect("the reference directory is readable");
        assert!(
            stale.is_empty(),
            "the function reference is stale ({}): run `cargo run -- docs` and commit \
             docs/functions",
            stale
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }

    #[test]
    fn a_stale_or_extra_page_is_found_and_rewritten() {
        let directory = tempfile::tempdir().expect("a temporary directory");
        assert!(!stale_pages(directory.path()).expect("readable").is_empty());
        write_reference(directory.path()).expect("written");
        assert!(stale_pages(directory.path()).expect("readable").is_empty());
        let index = directory.path().join(userlake_udfs::docs::INDEX_PAGE);
        std::fs::write(&index, "edited by hand").expect("written");
        let extra = directory.path().join("gone-family.md");
        std::fs::write(&extra, "old").expect("written");
        assert_eq!(stale_pages(directory.path()).expect("readable"), {
            let mut expected = vec![extra.clone(), index];
            expected.sort();
            expected
        });
        write_reference(directory.path()).expect("written");
        assert!(stale_pages(directory.path()).expect("readable").is_empty());
        assert!(!extra.exists());
    }
}
