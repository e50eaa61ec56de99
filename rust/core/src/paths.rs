//! Logical paths inside an artifact: wandb's normalisation and validation rules,
//! and the guard that keeps a manifest path inside a download root.
//!
//! Normalisation is `str(PurePosixPath(p))` on POSIX (CPython 3.11): `//` collapses,
//! `.` components vanish, a trailing `/` goes, exactly two leading slashes are kept.

use std::path::{Component, Path, PathBuf};

/// wandb's `LogicalPath(p)`.
pub fn normalize(p: &str) -> String {
    let anchor = if p.starts_with("//") && !p.starts_with("///") {
        "//"
    } else if p.starts_with('/') {
        "/"
    } else {
        ""
    };
    let parts: Vec<&str> = p.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
    if anchor.is_empty() && parts.is_empty() {
        return ".".to_owned();
    }
    let mut out = String::with_capacity(p.len());
    out.push_str(anchor);
    out.push_str(&parts.join("/"));
    out
}

/// True if `PureWindowsPath(p).anchor` is non-empty: a leading separator or `X:` drive.
fn has_windows_anchor(p: &str) -> bool {
    let mut chars = p.chars();
    let first = chars.next();
    let second = chars.next();
    matches!(first, Some('/' | '\\')) || (second == Some(':') && first.is_some_and(|c| c.is_ascii_alphabetic()))
}

/// wandb's `validate_artifact_path`: the POSIX checks use the normalised path, the
/// Windows checks the original (so `./C:x` passes here; `add_entry` normalises first and
/// then refuses `C:x`). `Err` carries the normalised path for the message.
pub fn validate(original: &str) -> Result<String, String> {
    let norm = normalize(original);
    let invalid = norm == "."
        || norm.starts_with('/')
        || norm.split('/').any(|c| c == "..")
        || has_windows_anchor(original)
        || original.split(['/', '\\']).any(|c| c == "..");
    if invalid {
        Err(norm)
    } else {
        Ok(norm)
    }
}

/// Whether `root/path` stays inside `root` for a manifest path: no absolute path, `..`,
/// drive prefix or NUL, and not empty. What `validate` refuses is refused too, without
/// its allocations (a download checks every entry before writing anything).
pub fn stays_inside(path: &str) -> bool {
    !path.is_empty()
        && !path.contains('\0')
        && !has_windows_anchor(path) // also a leading `/`
        && !path.split(['/', '\\']).any(|c| c == "..")
        && !path.split('/').all(|c| c.is_empty() || c == ".") // normalises to "."
}

/// `root/path` for a manifest path, or None if it could land outside `root`
/// (see `stays_inside`).
pub fn join_inside(root: &Path, path: &str) -> Option<PathBuf> {
    if !stays_inside(path) {
        return None;
    }
    // Sized once: `join` grows the buffer on every push.
    let mut out = PathBuf::with_capacity(root.as_os_str().len() + 1 + path.len());
    out.push(root);
    out.push(path);
    debug_assert!(Path::new(path).components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir)));
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_like_pure_posix_path() {
        for (i, o) in [
            ("a//b", "a/b"),
            ("./a.txt", "a.txt"),
            ("a/", "a"),
            ("./dot/./slash//x.txt", "dot/slash/x.txt"),
            ("", "."),
            (".", "."),
            ("//x", "//x"),
            ("///x", "/x"),
            ("/a/../b", "/a/../b"),
            ("a\\b.txt", "a\\b.txt"),
        ] {
            assert_eq!(normalize(i), o, "{i:?}");
        }
    }

    #[test]
    fn validation_matches_wandb_vectors() {
        for bad in ["/abs.txt", "../up.txt", "a/../b.txt", ".", "C:foo.txt", "c:/x", "a:b", "\\x.txt", "a\\..\\b.txt", "//two.txt", ""] {
            assert!(validate(bad).is_err(), "{bad:?} should be invalid");
        }
        for (ok, norm) in [
            ("1:b.txt", "1:b.txt"),
            ("é:b.txt", "é:b.txt"),
            ("a//b.txt", "a/b.txt"),
            ("ab:c.txt", "ab:c.txt"),
            ("a\\b.txt", "a\\b.txt"),
            (" lead.txt", " lead.txt"),
            ("~/x", "~/x"),
            ("nl\n.txt", "nl\n.txt"),
            ("nul\0.txt", "nul\0.txt"),
            ("..a/b..", "..a/b.."),
            ("./C:x", "C:x"),
        ] {
            assert_eq!(validate(ok).unwrap(), norm);
        }
    }

    #[test]
    fn join_inside_refuses_escapes() {
        let root = Path::new("/r");
        assert_eq!(join_inside(root, "a/b").unwrap(), Path::new("/r/a/b"));
        for bad in ["../../x", "/etc/passwd", "a/../../x", "", "x\0y", "C:x"] {
            assert!(join_inside(root, bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn stays_inside_refuses_what_validate_refuses() {
        let cases = ["a/b", "./a", "a//b", ".", "./", "//", "/a", "..", "a/..", "..a/b..", "a\\..\\b", "\\x", "C:x", "c:/x", "1:b", "é:b", "x\0y", "", "a/./b", " ", "~/x", ".a", "a/.", "./.", "...", "a\\b"];
        for p in cases {
            let by_validate = !p.is_empty() && !p.contains('\0') && validate(p).is_ok();
            let by_components = Path::new(p).components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
            assert_eq!(stays_inside(p), by_validate && by_components, "{p:?}");
        }
    }
}
