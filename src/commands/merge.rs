//! `sixbb merge SHARD_DIR... --out DIR`: assemble shard runs.

use crate::batch::merge;
use crate::cli::MergeArgs;
use crate::error::Result;

/// Merge and print what was assembled.
pub fn run(a: MergeArgs) -> Result<i32> {
    let outputs = merge(&a.shards, &a.out, a.force)?;
    println!("merged {} shard folders into {}: {} files", a.shards.len(), a.out.display(), outputs.len());
    Ok(0)
}
