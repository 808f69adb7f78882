//! Pack files: many encoded chunks in one object, with a self-describing trailer.
//!
//! Layout: `blob_0 .. blob_n | trailer | u32 LE trailer length`, where the trailer is the
//! encoded (compressed, sealed) JSON list of `[id, offset, length, raw_length]`. The index files
//! are what readers use; the trailer lets an index be rebuilt from the packs alone.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, channel, sync_channel};
use std::thread::JoinHandle;

use crate::crypto::{Keys, hex};
use crate::error::{BackupError, Result};
use crate::format::{self, ChunkId, IndexBlob, IndexPack};
use crate::repo::index_parts;
use crate::storage::{PackBuf, Storage};

/// A full pack (blobs and trailer) for the upload thread, and the key to store it under.
type Upload = (String, PackBuf);

/// The upload thread: full packs go to it, their buffers come back from it.
#[derive(Debug)]
struct Uploader {
    packs: SyncSender<Upload>,
    buffers: Receiver<PackBuf>,
    handle: JoinHandle<Result<()>>,
}

/// Where a [`PackWriter`] writes index parts while it runs: called with each part (as
/// [`index_parts`] cuts them) once every pack in it is durable. The backup's sink checks that
/// its lock is still held, then writes the part.
pub(crate) type IndexSink<'a> = &'a (dyn Fn(&[IndexPack]) -> Result<()> + Sync);

pub(crate) struct PackWriter<'a> {
    storage: Arc<dyn Storage>,
    keys: Option<Arc<Keys>>,
    level: i32,
    target: u64,
    buf: PackBuf,
    blobs: Vec<IndexBlob>,
    pub(crate) done: Vec<IndexPack>,
    pub(crate) stored_bytes: u64,
    /// Full packs go to an upload thread, which stages each (a local directory writes it to a
    /// temporary file, with `O_DIRECT`), hands its buffer back, then commits it (fsync and
    /// rename, or the upload): writing a pack overlaps with filling the next one, in the
    /// other of two buffers that serve the whole backup (no fresh mapping, faulted in and
    /// zeroed page by page, per pack).
    uploader: Option<Uploader>,
    /// With a sink, `done` holds only packs not yet indexed: memory stays at about one index
    /// part and one pack (16 384 blobs and a pack's, about 1 MB) whatever the size of the graph.
    index: Option<IndexSink<'a>>,
}

impl std::fmt::Debug for PackWriter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackWriter")
            .field("storage", &self.storage)
            .field("target", &self.target)
            .field("packs_unindexed", &self.done.len())
            .field("stored_bytes", &self.stored_bytes)
            .field("indexes_while_running", &self.index.is_some())
            .finish_non_exhaustive()
    }
}

impl<'a> PackWriter<'a> {
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
            index: None,
        }
    }

    /// Write each index part to `sink` as soon as its packs are durable, instead of returning
    /// every pack from [`finish`](PackWriter::finish) (which then returns the last part).
    pub(crate) fn indexing_into(mut self, sink: IndexSink<'a>) -> Self {
        self.index = Some(sink);
        self
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
        // Held (in `done`) until its index part is written: without the growth slack.
        blobs.shrink_to_fit();
        let trailer =
            match format::encode_json(self.keys.as_deref(), "pack-trailer", &blobs, self.level) {
                Ok(t) => t,
                Err(e) => return self.join_uploader().and(Err(e)),
            };
        let buf = &mut self.buf;
        buf.extend_from_slice(&trailer);
        buf.extend_from_slice(&(trailer.len() as u32).to_le_bytes());
        let id = hex(blake3::hash(buf.as_slice()).as_bytes());
        let size = buf.len() as u64;
        if self.uploader.is_none() {
            self.uploader = Some(self.spawn_uploader()?);
        }
        let key = format::pack_key(&id);
        self.done.push(IndexPack { id, size, blobs });
        let pack = (key, std::mem::take(&mut self.buf));
        let sent = self
            .uploader
            .as_ref()
            .is_some_and(|u| u.packs.send(pack).is_ok());
        if !sent {
            // The uploader stopped on an error: report it.
            return self
                .join_uploader()
                .and(Err(BackupError::Injected("pack upload stopped")));
        }
        // The uploader took this pack, so it has committed the one before and handed its
        // buffer back (before committing it): that buffer is filled next. At most two
        // buffers are ever allocated.
        if let Some(back) = self
            .uploader
            .as_ref()
            .and_then(|u| u.buffers.try_recv().ok())
        {
            self.buf = back;
        }
        if let Some(sink) = self.index
            && let Err(e) = self.index_durable(sink)
        {
            return self.join_uploader().and(Err(e));
        }
        Ok(())
    }

    /// Write the index parts that are complete and durable. Every pack in `done` but the last
    /// (just handed to the uploader) is committed. [`index_parts`] cuts parts greedily, so
    /// every part before the last is final whatever packs follow (the same cut as over the
    /// whole backup), and the last one holds the pack in flight: write all parts but the last.
    fn index_durable(&mut self, sink: IndexSink<'_>) -> Result<()> {
        let mut parts = index_parts(&self.done).map(<[IndexPack]>::len);
        let mut last = parts.next().unwrap_or(0);
        let mut ready = 0;
        for n in parts {
            ready += last;
            last = n;
        }
        if ready == 0 {
            return Ok(());
        }
        for part in index_parts(&self.done[..ready]) {
            sink(part)?;
        }
        self.done.drain(..ready);
        Ok(())
    }

    /// The upload thread. `packs` is a rendezvous channel: the thread takes a pack only after
    /// committing the previous one, so once a send returns, every pack before it is durable.
    fn spawn_uploader(&self) -> Result<Uploader> {
        let (packs, rx) = sync_channel::<Upload>(0);
        let (back, buffers) = channel::<PackBuf>();
        let storage = self.storage.clone();
        let handle = std::thread::Builder::new()
            .name("lightrag-pack-upload".into())
            .spawn(move || -> Result<()> {
                for (key, mut buf) in rx {
                    let staged = storage.stage(&key, &buf)?;
                    buf.clear();
                    // The writer may have stopped; the buffer is then dropped here.
                    let _ = back.send(buf);
                    storage.commit(staged)?;
                }
                Ok(())
            })
            .map_err(|e| BackupError::io("spawn pack upload thread", "", e))?;
        Ok(Uploader {
            packs,
            buffers,
            handle,
        })
    }

    fn join_uploader(&mut self) -> Result<()> {
        match self.uploader.take() {
            Some(Uploader { packs, handle, .. }) => {
                drop(packs);
                handle
                    .join()
                    .unwrap_or_else(|_| Err(BackupError::WorkerPanicked("pack upload".into())))
            }
            None => Ok(()),
        }
    }

    /// Flush the last pack and wait until every pack is stored. Returns the packs not yet
    /// indexed (all of them without a sink) and the bytes stored.
    pub(crate) fn finish(mut self) -> Result<(Vec<IndexPack>, u64)> {
        self.flush()?;
        self.join_uploader()?;
        Ok((std::mem::take(&mut self.done), self.stored_bytes))
    }
}

impl Drop for PackWriter<'_> {
    /// On an early return, wait for the pack in flight: nothing of this writer's is written
    /// after the operation has returned (and released its lock).
    fn drop(&mut self) {
        if let Err(e) = self.join_uploader() {
            tracing::debug!(error = %lightrag_config::ErrorChain(&e), "Pack upload stopped after an earlier error");
        }
    }
}
