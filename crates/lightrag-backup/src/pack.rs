//! Pack files: many encoded chunks in one object, with a self-describing trailer.
//!
//! Layout: `blob_0 .. blob_n | trailer | u32 LE trailer length`, where the trailer is the
//! encoded (compressed, sealed) JSON list of `[id, offset, length, raw_length]`. The index files
//! are what readers use; the trailer lets an index be rebuilt from the packs alone.

use std::sync::Arc;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

use crate::crypto::{Keys, hex};
use crate::error::{BackupError, Result};
use crate::format::{self, ChunkId, IndexBlob, IndexPack};
use crate::storage::{PackBuf, Staged, Storage};

/// Channel to the upload thread (staged packs to commit) and its handle.
type Uploader = (SyncSender<Staged>, JoinHandle<Result<()>>);

#[derive(Debug)]
pub(crate) struct PackWriter {
    storage: Arc<dyn Storage>,
    keys: Option<Arc<Keys>>,
    level: i32,
    target: u64,
    buf: PackBuf,
    blobs: Vec<IndexBlob>,
    pub(crate) done: Vec<IndexPack>,
    pub(crate) stored_bytes: u64,
    /// Finished packs are staged here (a local directory writes them to a temporary file at
    /// once) and committed by an uploader thread (one in flight), so fsyncing a pack (or
    /// uploading it) overlaps with filling the next one. Where the storage wrote the pack
    /// while staging it, the one buffer serves the whole backup: no second pack in memory,
    /// and no fresh mapping, faulted in and zeroed page by page, per pack.
    uploader: Option<Uploader>,
}

impl PackWriter {
    pub(crate) fn new(
        storage: Arc<dyn Storage>,
        keys: Option<Arc<Keys>>,
        level: i32,
        target: u64,
    ) -> Self {
        PackWriter {
            storage,
            keys,
            level,
            target,
            buf: PackBuf::new(),
            blobs: Vec::new(),
            done: Vec::new(),
            stored_bytes: 0,
            uploader: None,
        }
    }

    /// Append an already encoded blob.
    pub(crate) fn add(&mut self, id: ChunkId, raw_len: u32, encoded: &[u8]) -> Result<()> {
        if self.buf.capacity() == 0 {
            // One allocation (no doubling past the target): bounded memory.
            self.buf
                .reserve_exact(self.target as usize + 2 * 1024 * 1024);
        }
        let offset = self.buf.len() as u64;
        self.buf.extend_from_slice(encoded);
        self.blobs
            .push(IndexBlob(id, offset, encoded.len() as u32, raw_len));
        self.stored_bytes += encoded.len() as u64;
        if self.buf.len() as u64 >= self.target {
            self.flush()?;
        }
        Ok(())
    }

    pub(crate) fn flush(&mut self) -> Result<()> {
        if self.blobs.is_empty() {
            return Ok(());
        }
        let mut blobs = std::mem::take(&mut self.blobs);
        // Held (in `done`) until the index is written: without the growth slack.
        blobs.shrink_to_fit();
        let trailer =
            format::encode_json(self.keys.as_deref(), "pack-trailer", &blobs, self.level)?;
        let buf = &mut self.buf;
        buf.extend_from_slice(&trailer);
        buf.extend_from_slice(&(trailer.len() as u32).to_le_bytes());
        let id = hex(blake3::hash(buf.as_slice()).as_bytes());
        let size = buf.len() as u64;
        if self.uploader.is_none() {
            let (tx, rx) = sync_channel::<Staged>(0);
            let storage = self.storage.clone();
            let handle = std::thread::Builder::new()
                .name("lightrag-pack-upload".into())
                .spawn(move || -> Result<()> {
                    for staged in rx {
                        storage.commit(staged)?;
                    }
                    Ok(())
                })
                .map_err(|e| BackupError::io("spawn pack upload thread", "", e))?;
            self.uploader = Some((tx, handle));
        }
        let key = format::pack_key(&id);
        let staged = self.storage.stage(&key, &self.buf);
        self.buf.clear(); // kept for the next pack
        let staged = match staged {
            Ok(s) => s,
            Err(e) => return self.join_uploader().and(Err(e)),
        };
        self.done.push(IndexPack { id, size, blobs });
        let failed = match &self.uploader {
            Some((tx, _)) => tx.send(staged).is_err(),
            None => true,
        };
        if failed {
            // The uploader stopped on an error: report it.
            return self
                .join_uploader()
                .and(Err(BackupError::Injected("pack upload stopped")));
        }
        Ok(())
    }

    fn join_uploader(&mut self) -> Result<()> {
        match self.uploader.take() {
            Some((tx, handle)) => {
                drop(tx);
                handle
                    .join()
                    .unwrap_or_else(|_| Err(BackupError::WorkerPanicked("pack upload".into())))
            }
            None => Ok(()),
        }
    }

    /// Flush the last pack and wait until every pack is stored.
    pub(crate) fn finish(mut self) -> Result<(Vec<IndexPack>, u64)> {
        self.flush()?;
        self.join_uploader()?;
        Ok((self.done, self.stored_bytes))
    }
}
