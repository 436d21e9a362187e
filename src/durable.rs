//! Files written so that a reader never sees half of one, a power cut never loses one the store
//! has recorded, and two writers of the same file never share one: the one mechanism for the
//! outbox, the printed letters and the cut-over's load files.
//!
//! A file is written under a temporary name of its writer's own ([`temp_name`]: a random token
//! drawn once per process, and a count), flushed to disk, renamed over its name, and its folder
//! flushed. Workers on several machines (or in containers, where process ids repeat) may share a
//! folder; a writer that lost its lease while frozen may wake up and go on writing. With names of
//! their own, each writer's file is whole, and the last rename wins; with a shared name their
//! writes would interleave in one file. A stopped writer's temporary files are removed by
//! [`remove_stale_temporaries`].

use std::path::{Path, PathBuf};

/// A temporary name beside `path` that no other writer uses: `<stem>.<token>-<n>.tmp`, the token
/// drawn once per process.
pub fn temp_name(path: &Path) -> PathBuf {
    static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let token = TOKEN.get_or_init(|| {
        let mut bytes = [0u8; 8];
        match getrandom::fill(&mut bytes) {
            Ok(()) => crate::hex::hex(&bytes),
            // No random numbers: the process id and the clock (`create_new` still refuses a clash).
            // Real clock: only a name.
            Err(_) => format!("{}-{}", std::process::id(), chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)),
        }
    });
    let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    path.with_extension(format!("{token}-{n}.tmp"))
}

/// Creates a new temporary file beside `path` ([`temp_name`]; its folder is created if missing),
/// returning its name and the file. The name is created new: a clash with another writer's is an
/// error, never a shared file.
pub fn create_temp(path: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    let tmp = temp_name(path);
    let create = || std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp);
    let f = match create() {
        // The folder is made when it is missing, not asked for before each file (a notify page
        // writes hundreds into one folder).
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            match path.parent().filter(|d| !d.as_os_str().is_empty()) {
                Some(dir) => std::fs::create_dir_all(dir)?,
                None => return Err(e),
            }
            create()?
        }
        opened => opened?,
    };
    Ok((tmp, f))
}

/// Writes `bytes` to a new temporary file beside `path` ([`create_temp`]), returning its name and
/// the file, still open and not flushed.
pub fn write_temp(path: &Path, bytes: &[u8]) -> std::io::Result<(PathBuf, std::fs::File)> {
    use std::io::Write;
    let (tmp, mut f) = create_temp(path)?;
    f.write_all(bytes)?;
    Ok((tmp, f))
}

/// Writes a file so that a reader never sees half of it and a power cut never loses it once this
/// returns: a temporary file of this writer's own, flushed to disk, renamed over the name, and
/// the folder flushed (so the rename itself is durable before the store records that the file
/// exists).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let (tmp, f) = write_temp(path, bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Makes the renames in `dir` durable (opening a folder to flush it works on Unix; elsewhere
/// the error says so).
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Removes the temporary files (`*.tmp`) in `dir` last written longer than `older_than` ago:
/// those a stopped writer left (nobody reads them). A live writer's are seconds old; a caller
/// that holds the folder's lease (no other live writer) passes zero. A missing folder has none,
/// and a file gone meanwhile (another process's sweep, a writer renaming its own) is passed
/// over. Returns how many were removed.
pub fn remove_stale_temporaries(dir: &Path, older_than: std::time::Duration) -> std::io::Result<usize> {
    // Whether this removal took the file (false: it was gone already).
    let took = |r: std::io::Result<()>| match r {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        other => other.map(|()| true),
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    // Real clock: a file's age is wall-clock time.
    let now = std::time::SystemTime::now();
    let mut removed = 0;
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "tmp") {
            continue;
        }
        let meta = match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            meta => meta?,
        };
        // Zero: every one, even one whose time is a little ahead of this clock's.
        let stale = older_than.is_zero() || now.duration_since(meta.modified()?).is_ok_and(|age| age > older_than);
        if meta.is_file() && stale && took(std::fs::remove_file(&path))? {
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    /// The sweep of a stopped run's temporary files: an old `*.tmp` goes; a fresh one (a live
    /// writer's), a notice and a folder stay; with zero age every temporary file goes, and still
    /// no folder; a missing folder has nothing to sweep.
    #[test]
    fn only_old_temporary_files_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("a.eml.0123abcd-7.tmp");
        let fresh = dir.path().join("b.0123abcd-8.tmp");
        let notice = dir.path().join("c.eml");
        for p in [&old, &fresh, &notice] {
            std::fs::write(p, "x").unwrap();
        }
        std::fs::create_dir(dir.path().join("print.tmp")).unwrap();
        let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        std::fs::File::options().write(true).open(&old).unwrap().set_modified(an_hour_ago).unwrap();
        let minutes = std::time::Duration::from_secs(300);
        assert_eq!(super::remove_stale_temporaries(dir.path(), minutes).unwrap(), 1);
        assert!(!old.exists() && fresh.exists() && notice.exists() && dir.path().join("print.tmp").is_dir());
        assert_eq!(super::remove_stale_temporaries(dir.path(), std::time::Duration::ZERO).unwrap(), 1);
        assert!(!fresh.exists() && notice.exists() && dir.path().join("print.tmp").is_dir());
        assert_eq!(super::remove_stale_temporaries(&dir.path().join("none"), minutes).unwrap(), 0);
    }

    /// Two writers of one file, their writes interleaved (a frozen writer that woke up while
    /// another rewrote the same file): each has a temporary file of its own, so the file under
    /// the name is one writer's whole, never a mix, and a rename of a file swept away fails
    /// rather than publishing anything.
    #[test]
    fn two_writers_of_one_file_never_share_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("load/accounts.csv");
        let (tmp_a, mut a) = super::create_temp(&path).unwrap();
        let (tmp_b, mut b) = super::create_temp(&path).unwrap();
        assert_ne!(tmp_a, tmp_b);
        for i in 0..100 {
            writeln!(a, "a,{i}").unwrap();
            writeln!(b, "b,{i}").unwrap();
        }
        let whole = |who: &str| (0..100).map(|i| format!("{who},{i}\n")).collect::<String>();
        std::fs::rename(&tmp_b, &path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), whole("b"));
        std::fs::rename(&tmp_a, &path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), whole("a"));
        // A writer whose temporary file was swept cannot publish it.
        let (tmp_c, _c) = super::write_temp(&path, b"c,0\n").unwrap();
        assert_eq!(super::remove_stale_temporaries(path.parent().unwrap(), std::time::Duration::ZERO).unwrap(), 1);
        assert!(std::fs::rename(&tmp_c, &path).is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), whole("a"));
        super::write_atomically(&path, b"d,0\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "d,0\n");
        let names: Vec<_> =
            std::fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["accounts.csv"], "no temporary file left");
    }
}
