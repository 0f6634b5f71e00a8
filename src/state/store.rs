//! The state file: `state.json` in the state directory, replaced atomically on every save, and
//! read leniently — a damaged or unknown file costs the records (rebuilt from Nomad's meta),
//! never the daemon.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::{SourceState, State};
use crate::events::History;

/// The file's name in the state directory.
pub const STATE_FILE: &str = "state.json";

/// The format this build reads and writes; a file with another is set aside, not guessed at.
pub const FORMAT_VERSION: u32 = 1;

/// Largest state file read. A job's record is well under a kilobyte, so this is room for
/// tens of thousands of jobs; anything larger is not a file drover wrote.
pub const MAX_STATE_BYTES: u64 = 64 * 1024 * 1024;

/// Temporary files start with this; any left by a crash are removed on load.
const TEMP_PREFIX: &str = ".state.json.tmp.";

/// Why the state cannot be read or written at all (a damaged file is not an error: see
/// [`LoadWarning`]).
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read the state file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write the state file {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Why a state file was discarded on load. The file is renamed aside (for a person to look
/// at) and drover starts from an empty state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadWarning {
    Corrupt { detail: String },
    TooLarge { limit: u64 },
    UnknownVersion { version: u32 },
}

impl fmt::Display for LoadWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Corrupt { detail } => write!(f, "the state file is not valid: {detail}"),
            Self::TooLarge { limit } => write!(f, "the state file is over {limit} bytes"),
            Self::UnknownVersion { version } => write!(
                f,
                "the state file has format version {version}; this drover reads version {FORMAT_VERSION}"
            ),
        }
    }
}

/// What [`Store::load`] found.
#[derive(Debug)]
pub struct Loaded {
    pub state: State,
    /// Set when a file existed but was discarded; the records must then be rebuilt from the
    /// live jobs' ownership meta before the first pass.
    pub warning: Option<LoadWarning>,
    /// Where the discarded file was moved, if moving it worked.
    pub set_aside: Option<PathBuf>,
}

/// The file's envelope: the format version beside the records.
#[derive(Serialize)]
struct Envelope<'a> {
    version: u32,
    sources: &'a std::collections::BTreeMap<String, SourceState>,
    #[serde(skip_serializing_if = "History::is_empty")]
    history: &'a History,
    #[serde(skip_serializing_if = "std::collections::VecDeque::is_empty")]
    notified: &'a std::collections::VecDeque<String>,
}

/// Read first, alone, so that a future format is recognised as such rather than as corrupt.
#[derive(Deserialize)]
struct Header {
    version: u32,
}

/// The state file in one directory.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    path: PathBuf,
    /// Makes each temporary file name unique within the process.
    counter: AtomicU64,
    /// Group commit: how many changes were made (through [`Store::change_and_save`] or
    /// [`Store::change_and_save_within`]), and how many of them the file on disk holds. One
    /// save is written at a time; the changes made while it is written go into the next one.
    changes: AtomicU64,
    saved: AtomicU64,
    writing: Mutex<()>,
    /// When the latest write began.
    last_write: Mutex<Option<Instant>>,
    /// The size of the latest encoding, to encode the next one into a buffer of that size.
    last_size: AtomicUsize,
}

impl Store {
    /// The store for state directory `dir`; touches nothing until used.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        Self {
            path: dir.join(STATE_FILE),
            dir,
            counter: AtomicU64::new(0),
            changes: AtomicU64::new(0),
            saved: AtomicU64::new(0),
            writing: Mutex::new(()),
            last_write: Mutex::new(None),
            last_size: AtomicUsize::new(0),
        }
    }

    /// Makes `change` to `state` and returns once the file on disk holds it, writing the file
    /// once for all the changes that callers make while another write is under way (a cold
    /// sync of thousands of jobs would otherwise write the whole file once per job). The state
    /// is locked only to change and to serialize it, never while the file is written. Blocks:
    /// call from a blocking task.
    pub fn change_and_save(
        &self,
        state: &Mutex<State>,
        change: impl FnOnce(&mut State),
    ) -> Result<(), StateError> {
        let mine = self.change(state, change);
        self.save_through(state, mine)
    }

    /// Makes `change` to `state`, and writes the file only when no write began in the last
    /// `interval`; otherwise the change goes to disk with the next write. For changes that
    /// Nomad's ownership meta restores after a crash: they cost at most one write an interval.
    pub fn change_and_save_within(
        &self,
        state: &Mutex<State>,
        change: impl FnOnce(&mut State),
        interval: std::time::Duration,
    ) -> Result<(), StateError> {
        let mine = self.change(state, change);
        let last = *self.last_write.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|at| at.elapsed() < interval) {
            return Ok(());
        }
        self.save_through(state, mine)
    }

    /// Makes a change and returns its number.
    fn change(&self, state: &Mutex<State>, change: impl FnOnce(&mut State)) -> u64 {
        let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
        change(&mut state);
        self.changes.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Writes the file unless a write since change `mine` already holds it.
    fn save_through(&self, state: &Mutex<State>, mine: u64) -> Result<(), StateError> {
        let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        if self.saved.load(Ordering::SeqCst) >= mine {
            return Ok(());
        }
        *self.last_write.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        let (bytes, upto) = {
            let state = state.lock().unwrap_or_else(|e| e.into_inner());
            // Read under the state lock: every change counted so far is in what is serialized.
            (self.encode(&state)?, self.changes.load(Ordering::SeqCst))
        };
        self.write(&bytes)?;
        self.saved.store(upto, Ordering::SeqCst);
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the state. A missing file is an empty state; a corrupt, oversized or
    /// unknown-version file is logged, renamed aside and replaced by an empty state. Only an
    /// I/O failure (permissions, a directory in the way) is an error. Removes temporary files
    /// a crash left behind.
    pub fn load(&self) -> Result<Loaded, StateError> {
        self.remove_stale_temp_files();
        let read_err = |source| StateError::Read {
            path: self.path.clone(),
            source,
        };
        let bytes = match File::open(&self.path) {
            Ok(file) => read_limited(file).map_err(read_err)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(loaded(State::default())),
            Err(e) => return Err(read_err(e)),
        };
        let Some(bytes) = bytes else {
            return Ok(self.discard(LoadWarning::TooLarge {
                limit: MAX_STATE_BYTES,
            }));
        };
        match decode(&bytes) {
            Ok(state) => Ok(loaded(state)),
            Err(warning) => Ok(self.discard(warning)),
        }
    }

    /// Replaces the file with `state`: a temporary file in the same directory, written and
    /// flushed to disk, renamed over the old one, then the directory flushed so the rename
    /// itself survives a crash. Readers (and a restart after kill -9) see the old file or the
    /// new one, never a mix.
    pub fn save(&self, state: &State) -> Result<(), StateError> {
        self.write(&self.encode(state)?)
    }

    fn write_error(&self, source: io::Error) -> StateError {
        StateError::Write {
            path: self.path.clone(),
            source,
        }
    }

    fn encode(&self, state: &State) -> Result<Vec<u8>, StateError> {
        let envelope = Envelope {
            version: FORMAT_VERSION,
            sources: &state.sources,
            history: &state.history,
            notified: &state.notified,
        };
        // One buffer of about the last size instead of a doubling series of them: with thousands
        // of jobs the file is megabytes, and the series would leave the daemon's heap
        // fragmented by every save.
        let last = self.last_size.load(Ordering::Relaxed);
        let mut bytes = Vec::with_capacity(last + last / 8);
        // Compact: a person reads it with `jq`, and compact is a third smaller to write.
        serde_json::to_writer(&mut bytes, &envelope).map_err(|e| self.write_error(e.into()))?;
        self.last_size.store(bytes.len(), Ordering::Relaxed);
        Ok(bytes)
    }

    fn write(&self, bytes: &[u8]) -> Result<(), StateError> {
        let write_err = |source| self.write_error(source);
        fs::create_dir_all(&self.dir).map_err(write_err)?;
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let temp = self
            .dir
            .join(format!("{TEMP_PREFIX}{}.{n}", std::process::id()));
        let result = write_synced(&temp, bytes)
            .and_then(|()| fs::rename(&temp, &self.path))
            .and_then(|()| sync_dir(&self.dir));
        if result.is_err() {
            // Best effort: a leftover is also removed on the next load.
            let _ = fs::remove_file(&temp);
        }
        result.map_err(write_err)
    }

    fn discard(&self, warning: LoadWarning) -> Loaded {
        let aside = self.path.with_extension("json.discarded");
        let set_aside = fs::rename(&self.path, &aside).ok().map(|()| aside);
        tracing::warn!(
            path = %self.path.display(),
            set_aside = ?set_aside,
            %warning,
            "starting from an empty state; job records will be rebuilt from Nomad's ownership meta"
        );
        Loaded {
            state: State::default(),
            warning: Some(warning),
            set_aside,
        }
    }

    fn remove_stale_temp_files(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

fn loaded(state: State) -> Loaded {
    Loaded {
        state,
        warning: None,
        set_aside: None,
    }
}

/// The file's bytes, or `None` when it is over [`MAX_STATE_BYTES`].
fn read_limited(file: File) -> io::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    // One byte over the limit is enough to know it is too large, without reading it all.
    file.take(MAX_STATE_BYTES + 1).read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= MAX_STATE_BYTES).then_some(bytes))
}

fn decode(bytes: &[u8]) -> Result<State, LoadWarning> {
    let corrupt = |e: serde_json::Error| LoadWarning::Corrupt {
        detail: e.to_string(),
    };
    let header: Header = serde_json::from_slice(bytes).map_err(corrupt)?;
    if header.version != FORMAT_VERSION {
        return Err(LoadWarning::UnknownVersion {
            version: header.version,
        });
    }
    serde_json::from_slice(bytes).map_err(corrupt)
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Flushes a directory's entries (the rename) to disk. Directories cannot be opened for this
/// on every platform; where they cannot, the rename alone is what the platform offers.
fn sync_dir(dir: &Path) -> io::Result<()> {
    if cfg!(unix) {
        File::open(dir)?.sync_all()
    } else {
        Ok(())
    }
}
