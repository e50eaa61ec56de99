//! Uploads of one blob per signed PUT URL (the large files), many at once.

use std::fs::File;
use std::path::PathBuf;

use super::retry::{with_retries, Failure, Options};
use super::{agent, checked, parallel, with_headers};
use crate::progress::{tick, Progress};

/// One file to PUT to its signed URL; `size` is what the URL was signed for.
#[derive(Clone, Debug)]
pub struct PutItem {
    pub path: PathBuf,
    pub url: String,
    pub size: u64,
}

/// PUT every item (up to `opts.concurrency` at once); one result per item, in order.
/// A 409 means the server already holds the blob (a replay after a lost answer): done.
pub fn put_files(items: &[PutItem], opts: &Options, progress: Option<&Progress>) -> Vec<Result<(), String>> {
    let agent = agent(opts);
    parallel(items.len(), opts.concurrency, |i| {
        let item = &items[i];
        let r = with_retries(opts, || put_one(&agent, item, opts));
        if r.is_ok() {
            tick(progress, 1, item.size);
        }
        r
    })
}

fn put_one(agent: &ureq::Agent, item: &PutItem, opts: &Options) -> Result<(), Failure> {
    let file = File::open(&item.path).map_err(|e| Failure::fatal(format!("{}: {e}", item.path.display())))?;
    let len = file.metadata()?.len();
    if len != item.size {
        return Err(Failure::fatal(format!(
            "{}: is {len} bytes, expected {} (was the file modified after it was added?)",
            item.path.display(),
            item.size
        )));
    }
    let req = with_headers(agent.put(&item.url).header("Content-Type", "application/octet-stream"), &opts.headers);
    // 409: the server holds the blob already
    let mut resp = checked(req.send(&file)?, &[409], || format!("upload of {}", item.path.display()))?;
    let _ = resp.body_mut().read_to_vec();
    Ok(())
}
