//! Which paths of a tree are job files (the source's `paths` globs) and which are files of
//! another kind (one list of globs per kind, e.g. namespaces), minus its `exclude` globs. A
//! file of another kind is never a job file, whatever `paths` says. `*` stays within one
//! directory and `**` crosses them, as in `.gitignore`.

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

use super::error::SourceError;

/// The compiled `paths` and `exclude` of one source.
#[derive(Debug, Clone)]
pub struct Selection {
    include: GlobSet,
    exclude: GlobSet,
    groups: Vec<GlobSet>,
}

/// Which list a selected file belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listed {
    Job,
    /// The file matches the globs of the group at this index (the first that matches).
    Group(usize),
}

impl Selection {
    pub fn new(
        paths: &[String],
        exclude: &[String],
        groups: &[Vec<String>],
    ) -> Result<Self, SourceError> {
        Ok(Self {
            include: build(paths)?,
            exclude: build(exclude)?,
            groups: groups.iter().map(|g| build(g)).collect::<Result<_, _>>()?,
        })
    }

    /// Whether the repository-relative `path` is a job file.
    pub fn matches(&self, path: &str) -> bool {
        self.classify(path) == Some(Listed::Job)
    }

    /// How many groups besides the job files.
    pub fn groups(&self) -> usize {
        self.groups.len()
    }

    /// Where the repository-relative `path` belongs, if anywhere.
    pub fn classify(&self, path: &str) -> Option<Listed> {
        if self.exclude.is_match(path) {
            return None;
        }
        if let Some(i) = self.groups.iter().position(|g| g.is_match(path)) {
            return Some(Listed::Group(i));
        }
        self.include.is_match(path).then_some(Listed::Job)
    }
}

fn build(globs: &[String]) -> Result<GlobSet, SourceError> {
    let mut set = GlobSetBuilder::new();
    for glob in globs {
        set.add(compile(glob)?);
    }
    set.build().map_err(|e| invalid(&globs.join(", "), &e))
}

fn compile(glob: &str) -> Result<Glob, SourceError> {
    GlobBuilder::new(glob)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map_err(|e| invalid(glob, &e))
}

fn invalid(glob: &str, err: &globset::Error) -> SourceError {
    SourceError::InvalidGlob {
        glob: glob.to_owned(),
        detail: err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_stays_in_one_directory_and_exclude_wins() {
        let paths = vec!["jobs/prod/**/*.nomad.hcl".to_owned(), "*.nomad".to_owned()];
        let exclude = vec!["**/draft-*".to_owned()];
        let s = Selection::new(&paths, &exclude, &[]).expect("globs");
        assert!(s.matches("jobs/prod/web.nomad.hcl"));
        assert!(s.matches("jobs/prod/eu/web.nomad.hcl"));
        assert!(s.matches("top.nomad"));
        assert!(!s.matches("sub/top.nomad"));
        assert!(!s.matches("jobs/prod/eu/draft-web.nomad.hcl"));
        assert!(!s.matches("jobs/dev/web.nomad.hcl"));
    }
}
