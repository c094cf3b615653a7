//! Owned buffers from small fixed pools: the MQTT task copies a Jobs message into one, the
//! download task a file block, and the agent drops it after handling, which sends it home.
//! The pools are filled once at start; nothing is allocated per message or per block, and a
//! producer that finds its pool empty waits (the download) or drops (MQTT, whose sender
//! retries) instead of growing anything.

use alloc::boxed::Box;
use alloc::vec;
use core::time::Duration;
use kernel::Queue;

/// A pool: buffers of one size, waiting in a queue.
pub struct Pool {
    free: Queue<Box<[u8]>>,
    size: usize,
}

impl Pool {
    /// A pool of `count` buffers of `size` bytes, allocated now.
    pub fn new(count: u32, size: usize) -> Result<&'static Pool, kernel::Error> {
        let pool: &'static Pool = Box::leak(Box::new(Pool {
            free: Queue::new(count)?,
            size,
        }));
        for _ in 0..count {
            pool.free
                .send(vec![0u8; size].into_boxed_slice(), Duration::ZERO)
                .map_err(|_| kernel::Error::OutOfMemory)?;
        }
        Ok(pool)
    }

    /// The size of every buffer.
    pub fn buffer_size(&self) -> usize {
        self.size
    }

    /// A buffer holding a copy of `data`, waiting up to `wait` for one to come free; `None`
    /// when none did or `data` does not fit.
    pub fn take_copy(&'static self, data: &[u8], wait: Duration) -> Option<PoolBuf> {
        let mut buf = self.take(wait)?;
        buf.data
            .as_deref_mut()?
            .get_mut(..data.len())?
            .copy_from_slice(data);
        buf.len = data.len();
        Some(buf)
    }

    /// An empty buffer, waiting up to `wait` for one to come free.
    pub fn take(&'static self, wait: Duration) -> Option<PoolBuf> {
        let data = self.free.receive(wait)?;
        Some(PoolBuf {
            data: Some(data),
            len: 0,
            home: self,
        })
    }
}

/// A buffer on loan from a [`Pool`], with the length in use; it goes back when dropped.
pub struct PoolBuf {
    data: Option<Box<[u8]>>,
    len: usize,
    home: &'static Pool,
}

impl PoolBuf {
    /// The unused space after the bytes in use.
    pub fn spare(&mut self) -> &mut [u8] {
        let len = self.len;
        self.data
            .as_deref_mut()
            .and_then(|data| data.get_mut(len..))
            .unwrap_or_default()
    }

    /// Counts `n` more bytes of the spare space as in use.
    pub fn fill(&mut self, n: usize) {
        let capacity = self.data.as_deref().map_or(0, <[u8]>::len);
        self.len = (self.len + n).min(capacity);
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl AsRef<[u8]> for PoolBuf {
    fn as_ref(&self) -> &[u8] {
        self.data
            .as_deref()
            .and_then(|data| data.get(..self.len))
            .unwrap_or_default()
    }
}

impl Drop for PoolBuf {
    fn drop(&mut self) {
        if let Some(data) = self.data.take() {
            // The queue holds every buffer of the pool, so there is always room.
            let _ = self.home.free.send(data, Duration::ZERO);
        }
    }
}
