//! Downloads into real temp dirs: present files, skips, escapes, bad objects, symlinks.

use std::fs;
use std::path::Path;

use super::*;
use crate::cache::{put_object, Placement};
use crate::digest::{hash_bytes, Algorithm};

fn setup(files: &[(&str, &[u8])]) -> (tempfile::TempDir, Manifest) {
    let d = tempfile::tempdir().unwrap();
    let mut m = Manifest::new("V2", None);
    for (path, data) in files {
        let src = d.path().join("src.tmp");
        fs::write(&src, data).unwrap();
        let digest = hash_bytes(data, Algorithm::Md5);
        put_object(&d.path().join("store"), &src, &digest, Algorithm::Md5, false).unwrap();
        let e = Entry::new(*path, digest, Some(data.len() as u64));
        m.add_entry(e, false).unwrap();
    }
    (d, m)
}

fn opts<'a>(d: &'a Path, root: &'a Path, cache: Option<&'a Path>) -> DownloadOptions<'a> {
    DownloadOptions { root, store_objects: d, cache_root: cache, prefix: None, placement: Placement::Copy, statcache: None, known_present: None, spares: None, packed: None }
}

#[test]
fn cold_then_present() {
    let (d, m) = setup(&[("a.txt", b"a"), ("x/y/b.txt", b"bb")]);
    let (store, root, cache) = (d.path().join("store"), d.path().join("root"), d.path().join("cache"));
    let r = download(&m, &opts(&store, &root, Some(&cache)), None).unwrap();
    assert_eq!((r.placed, r.present), (2, 0));
    assert_eq!(fs::read(root.join("x/y/b.txt")).unwrap(), b"bb");
    let again = download(&m, &opts(&store, &root, Some(&cache)), None).unwrap();
    assert_eq!((again.placed, again.present), (0, 2));
    fs::write(root.join("a.txt"), b"z").unwrap();
    assert_eq!(download(&m, &opts(&store, &root, Some(&cache)), None).unwrap().placed, 1);
    assert_eq!(fs::read(root.join("a.txt")).unwrap(), b"a");
}

#[test]
fn directories_made_by_the_download_need_no_stat_those_there_are_checked() {
    let (d, m) = setup(&[("old/a.txt", b"a"), ("old/b.txt", b"b"), ("new/deep/c.txt", b"c"), ("new/d.txt", b"d")]);
    let (store, root) = (d.path().join("store"), d.path().join("root"));
    fs::create_dir_all(root.join("old")).unwrap();
    fs::write(root.join("old/a.txt"), b"a").unwrap(); // present
    fs::write(root.join("old/b.txt"), b"B").unwrap(); // stale
    let (blocked, made) = dirs::make_parents(&m.entries.values().collect::<Vec<_>>(), &crate::beneath::Root::open(&root, true).unwrap()).unwrap();
    assert!(blocked.is_empty());
    assert_eq!(made.into_iter().collect::<Vec<_>>(), ["new", "new/deep"]);
    fs::remove_dir_all(root.join("new")).unwrap();
    let r = download(&m, &opts(&store, &root, None), None).unwrap();
    assert_eq!((r.placed, r.present), (3, 1));
    for (path, data) in [("old/a.txt", b"a"), ("old/b.txt", b"b"), ("new/deep/c.txt", b"c"), ("new/d.txt", b"d")] {
        assert_eq!(fs::read(root.join(path)).unwrap(), data, "{path}");
    }
}

#[test]
fn entries_blocked_by_a_directory_or_a_file_are_skipped_and_named() {
    let (d, m) = setup(&[("a.txt", b"a"), ("x/y/b.txt", b"bb"), ("ok/c.txt", b"c")]);
    let (store, root, cache) = (d.path().join("store"), d.path().join("root"), d.path().join("cache"));
    fs::create_dir_all(root.join("a.txt/inside")).unwrap();
    fs::write(root.join("x"), b"a file where a directory should be").unwrap();
    let r = download(&m, &opts(&store, &root, Some(&cache)), None).unwrap();
    assert_eq!((r.placed, r.present), (1, 0));
    let skipped: Vec<_> = r.skipped.iter().map(|(p, why)| (p.as_str(), why.as_str())).collect();
    assert_eq!(skipped, [("a.txt", "a directory is in the way"), ("x/y/b.txt", "a file is in the way of its directory")]);
    assert_eq!(fs::read(root.join("ok/c.txt")).unwrap(), b"c");
    assert!(root.join("a.txt/inside").is_dir() && root.join("x").is_file(), "nothing in the way was touched");
}

#[test]
fn escaping_path_writes_nothing() {
    let (d, mut m) = setup(&[("a.txt", b"a")]);
    let digest = m.entries["a.txt"].digest.clone();
    m.add_entry(Entry::new("../../x", digest, Some(1)), false).unwrap();
    let (store, root) = (d.path().join("store"), d.path().join("r/root"));
    assert!(matches!(download(&m, &opts(&store, &root, None), None), Err(DownloadError::Escapes(_))));
    assert!(!root.exists());
}

#[test]
fn corrupt_blob_is_named_and_nothing_is_placed() {
    let (d, m) = setup(&[("a.txt", b"original"), ("b.txt", b"fine")]);
    let store = d.path().join("store");
    let blob = store.join(object_relpath(&m.entries["a.txt"].digest, Algorithm::Md5).unwrap());
    fs::write(&blob, b"tampered").unwrap();
    let (root, cache) = (d.path().join("root"), d.path().join("cache"));
    for c in [Some(cache.as_path()), None] {
        match download(&m, &opts(&store, &root, c), None) {
            Err(DownloadError::CorruptBlob { blob: b, .. }) => assert_eq!(b, blob),
            other => panic!("{other:?}"),
        }
        assert!(!root.join("a.txt").exists() && !root.join("b.txt").exists());
        assert_eq!(fs::read_dir(&root).unwrap().count(), 0, "no temp files left");
    }
}

#[test]
fn a_symlinked_directory_in_the_root_is_never_written_through() {
    let (d, m) = setup(&[("sub/a.txt", b"new"), ("b.txt", b"b")]);
    let (store, root, cache) = (d.path().join("store"), d.path().join("root"), d.path().join("cache"));
    let outside = d.path().join("outside");
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("a.txt"), b"precious").unwrap();
    fs::create_dir_all(&root).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("sub")).unwrap();
    for c in [Some(cache.as_path()), None] {
        match download(&m, &opts(&store, &root, c), None) {
            Err(DownloadError::Symlink(p)) => assert_eq!(p, root.join("sub")),
            other => panic!("{other:?}"),
        }
        assert_eq!(fs::read(outside.join("a.txt")).unwrap(), b"precious");
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 1);
    }
}

#[test]
fn parents_that_cannot_be_made_are_errors_naming_them() {
    let long = format!("{}/f.txt", "d".repeat(300));
    let (d, m) = setup(&[(long.as_str(), b"x")]);
    let (store, root) = (d.path().join("store"), d.path().join("root"));
    let e = download(&m, &opts(&store, &root, None), None).unwrap_err();
    assert!(e.to_string().contains(&"d".repeat(300)), "{e}");
    let file_root = d.path().join("file");
    fs::write(&file_root, b"x").unwrap();
    let e = download(&m, &opts(&store, &file_root, None), None).unwrap_err();
    assert!(e.to_string().contains(file_root.to_str().unwrap()), "{e}");
}

#[test]
fn a_symlinked_destination_file_is_replaced_not_written_through() {
    let (d, m) = setup(&[("a.txt", b"new")]);
    let (store, root, cache) = (d.path().join("store"), d.path().join("root"), d.path().join("cache"));
    let outside = d.path().join("outside.txt");
    fs::write(&outside, b"precious").unwrap();
    fs::create_dir_all(&root).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("a.txt")).unwrap();
    download(&m, &opts(&store, &root, Some(&cache)), None).unwrap();
    assert_eq!(fs::read(&outside).unwrap(), b"precious");
    assert!(fs::symlink_metadata(root.join("a.txt")).unwrap().is_file());
    assert_eq!(fs::read(root.join("a.txt")).unwrap(), b"new");
}

#[test]
fn hardlinks_never_link_a_symlinked_cache_object() {
    let (d, m) = setup(&[("a.txt", b"new")]);
    let (store, root, cache) = (d.path().join("store"), d.path().join("root"), d.path().join("cache"));
    let rel = object_relpath(&m.entries["a.txt"].digest, Algorithm::Md5).unwrap();
    let outside = d.path().join("outside.txt");
    fs::write(&outside, b"xyz").unwrap(); // same size as the entry
    fs::create_dir_all(cache.join(&rel).parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&outside, cache.join(&rel)).unwrap();
    let mut o = opts(&store, &root, Some(&cache));
    o.placement = Placement::Hardlink;
    download(&m, &o, None).unwrap();
    assert!(fs::symlink_metadata(root.join("a.txt")).unwrap().is_file());
    assert_eq!(fs::read(root.join("a.txt")).unwrap(), b"new");
    assert!(fs::symlink_metadata(cache.join(&rel)).unwrap().is_file(), "the cache object was replaced");
}

mod plan {
    use super::*;
    use crate::download::plan;

    /// A root already holding one entry right and one altered at the same size: the plan
    /// marks only the right ones present, looks in the cache only for the other, and the
    /// download given the mask repairs the altered file (and keeps the right ones).
    #[test]
    fn marks_what_the_root_has_right_and_lists_what_the_cache_lacks() {
        let (d, m) = setup(&[("a/one.txt", b"one!"), ("b/two.txt", b"two!"), ("three.txt", b"3333")]);
        let (store, root, cache) = (d.path().join("store"), d.path().join("root"), d.path().join("cache"));
        // Nothing anywhere yet: no root, no cache; all three lack.
        let first = plan(&m, Some(&root), &cache, None, None).unwrap();
        assert_eq!(first.present, vec![0, 0, 0]);
        assert_eq!(first.lacking.iter().map(|l| l.0.as_str()).collect::<Vec<_>>(), ["a/one.txt", "b/two.txt", "three.txt"]);
        assert!(!root.exists(), "a plan writes nothing");
        download(&m, &opts(&store, &root, Some(&cache)), None).unwrap();
        fs::write(root.join("b/two.txt"), b"TWO!").unwrap();
        fs::remove_dir_all(&cache).unwrap();
        let again = plan(&m, Some(&root), &cache, None, None).unwrap();
        assert_eq!(again.present, vec![1, 0, 1]);
        assert_eq!(again.lacking.iter().map(|l| l.0.as_str()).collect::<Vec<_>>(), ["b/two.txt"]);
        let mut o = opts(&store, &root, Some(&cache));
        o.known_present = Some(&again.present);
        let report = download(&m, &o, None).unwrap();
        assert_eq!((report.present, report.placed), (2, 1));
        assert_eq!(fs::read(root.join("b/two.txt")).unwrap(), b"two!");
        // With a prefix, only its entries count.
        assert_eq!(plan(&m, Some(&root), &cache, Some("b/"), None).unwrap().present, vec![1]);
        // A mask that does not cover these jobs is not trusted: the altered file is found.
        fs::write(root.join("a/one.txt"), b"ONE!").unwrap();
        o.known_present = Some(&[1, 1]);
        assert_eq!(download(&m, &o, None).unwrap().placed, 1);
        assert_eq!(fs::read(root.join("a/one.txt")).unwrap(), b"one!");
    }

    /// A path that would escape the root refuses the plan, as the download would, before
    /// anything is looked at.
    #[test]
    fn a_path_escaping_the_root_is_refused() {
        let (d, m) = setup(&[("ok.txt", b"ok"), ("../evil.txt", b"x")]);
        let err = plan(&m, Some(&d.path().join("root")), &d.path().join("cache"), None, None).unwrap_err();
        assert!(matches!(err, DownloadError::Escapes(ref p) if p == "../evil.txt"), "{err}");
        assert!(!d.path().join("root").exists());
    }
}

/// A spare (a transfer's verified second copy) is renamed into the root, an inode of its
/// own apart from the cache object's; a second entry of the same content is copied; a
/// spare of the wrong size is left alone (copied from the cache instead); without a
/// cache, a spare is placed instead of a copy of the store object.
#[test]
fn spares_are_renamed_into_place_never_the_cache_object() {
    use std::collections::HashMap;
    use std::os::unix::fs::MetadataExt;
    let data = b"the content of a large file".repeat(1000);
    let (d, m) = setup(&[("a/w.bin", &data), ("b/same.bin", &data), ("c.txt", b"small")]);
    let (store, root, cache) = (d.path().join("store"), d.path().join("root"), d.path().join("cache"));
    let rel = object_relpath(&m.entries["a/w.bin"].digest, Algorithm::Md5).unwrap();
    let small_rel = object_relpath(&m.entries["c.txt"].digest, Algorithm::Md5).unwrap();
    // The cache holds the object already, as after a transfer.
    crate::cache::put_object(&cache, &store.join(&rel), &m.entries["a/w.bin"].digest, Algorithm::Md5, false).unwrap();
    fs::create_dir_all(cache.join("tmp")).unwrap();
    let (spare, wrong) = (cache.join("tmp/spare-1"), cache.join("tmp/spare-2"));
    fs::write(&spare, &data).unwrap();
    fs::write(&wrong, b"not five bytes").unwrap();
    let spare_ino = fs::metadata(&spare).unwrap().ino();
    let spares = HashMap::from([(rel.clone(), spare.clone()), (small_rel, wrong.clone())]);
    let o = DownloadOptions { spares: Some(&spares), ..opts(&store, &root, Some(&cache)) };
    let r = download(&m, &o, None).unwrap();
    assert_eq!(r.placed, 3);
    assert!(!spare.exists(), "the spare was taken");
    assert!(wrong.exists(), "a spare of the wrong size is not placed");
    let inos: Vec<u64> = ["a/w.bin", "b/same.bin"].iter().map(|p| fs::metadata(root.join(p)).unwrap().ino()).collect();
    let cache_ino = fs::metadata(cache.join(&rel)).unwrap().ino();
    assert!(inos.contains(&spare_ino), "one entry is the spare itself");
    assert!(!inos.contains(&cache_ino) && inos[0] != inos[1], "no file shares the cache object's inode");
    for p in ["a/w.bin", "b/same.bin"] {
        assert_eq!(fs::read(root.join(p)).unwrap(), data, "{p}");
    }
    assert_eq!(fs::read(root.join("c.txt")).unwrap(), b"small");
    assert_eq!(fs::read(cache.join(&rel)).unwrap(), data);

    // skip_cache: the store object is not re-read when a spare stands for it.
    let root2 = d.path().join("root2");
    let spare = d.path().join("spare-3");
    fs::write(&spare, &data).unwrap();
    let spares = HashMap::from([(rel.clone(), spare.clone())]);
    let o = DownloadOptions { spares: Some(&spares), ..opts(&store, &root2, None) };
    assert_eq!(download(&m, &o, None).unwrap().placed, 3);
    assert!(!spare.exists());
    assert_eq!(fs::read(root2.join("a/w.bin")).unwrap(), data);
    assert_eq!(fs::read(root2.join("b/same.bin")).unwrap(), data);
}

#[test]
fn copies_are_recorded_at_once_and_an_edit_right_after_is_still_caught() {
    use crate::statcache::{now_ns, StatCache};
    use crate::walk::StatKey;
    let (d, m) = setup(&[("a.txt", b"a"), ("x/b.txt", b"bb"), ("x/c.txt", b"ccc")]);
    let (store, cache) = (d.path().join("store"), d.path().join("cache"));
    let sc = StatCache::open(&d.path().join("sc"), 100);
    // Straight from the store, and through the cache.
    for (root, cache_root) in [(d.path().join("r1"), None), (d.path().join("r2"), Some(cache.as_path()))] {
        let o = DownloadOptions { statcache: Some(&sc), ..opts(&store, &root, cache_root) };
        let before = now_ns();
        assert_eq!(download(&m, &o, None).unwrap().placed, 3);
        for e in m.entries.values() {
            let meta = fs::symlink_metadata(root.join(&*e.path)).unwrap();
            let key = StatKey::of(&meta);
            assert!(key.mtime_ns < before && key.mtime_ns % 1000 != 0, "stamped: in the past, not a whole microsecond");
            let want = raw_digest(&e.digest).unwrap();
            assert_eq!(sc.lookup_raw(&key, Algorithm::Md5), Some(want), "recorded with no wait: {}", e.path);
        }
        // Edited at once (same size): the mtime leaves the stamp, so it is not taken as present.
        fs::write(root.join("a.txt"), b"z").unwrap();
        let again = download(&m, &o, None).unwrap();
        assert_eq!((again.placed, again.present), (1, 2));
        assert_eq!(fs::read(root.join("a.txt")).unwrap(), b"a");
    }
}
