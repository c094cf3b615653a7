//! A simulated NOR flash with the W800's rules, over any byte store.
//!
//! The sim keeps the bytes in a file and the QEMU board in a RAM region; both get the same
//! rules from here: erase is per sector and sets 0xFF, program stays inside one page and can
//! only clear bits, everything stays inside the chip. On the chip, programming a 0 back to 1
//! silently leaves the 0; here it is refused, so that such a bug shows up in tests.

use crate::hal::{check_bits_clear_only, Flash, FlashError, FlashGeometry};

/// Where a simulated flash keeps its bytes. Ranges passed in are already checked.
pub trait NorStore: Send {
    /// Reads `buf.len()` bytes at `offset`.
    fn load(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), FlashError>;
    /// Writes `data` at `offset`.
    fn store(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError>;
}

/// A byte store in memory: the QEMU board's flash stand-in, and the unit tests'.
pub struct RamStore<T>(pub T);

impl<T: AsMut<[u8]> + Send> NorStore for RamStore<T> {
    fn load(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), FlashError> {
        let bytes = self.0.as_mut();
        let src = range(bytes.len(), offset, buf.len()).and_then(|r| bytes.get(r));
        buf.copy_from_slice(src.ok_or(FlashError::Io)?);
        Ok(())
    }

    fn store(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError> {
        let bytes = self.0.as_mut();
        let dst = range(bytes.len(), offset, data.len()).and_then(|r| bytes.get_mut(r));
        dst.ok_or(FlashError::Io)?.copy_from_slice(data);
        Ok(())
    }
}

fn range(size: usize, offset: u32, len: usize) -> Option<core::ops::Range<usize>> {
    let start = usize::try_from(offset).ok()?;
    let end = start.checked_add(len)?;
    (end <= size).then_some(start..end)
}

/// A NOR flash that enforces the W800 rules over a [`NorStore`].
pub struct SimulatedNor<S> {
    store: S,
    geometry: FlashGeometry,
}

impl<S: NorStore> SimulatedNor<S> {
    /// Wraps `store`, which must hold `geometry.size` bytes.
    pub fn new(store: S, geometry: FlashGeometry) -> Self {
        SimulatedNor { store, geometry }
    }
}

impl<S: NorStore> Flash for SimulatedNor<S> {
    fn geometry(&self) -> FlashGeometry {
        self.geometry
    }

    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), FlashError> {
        self.geometry.check_range(offset, buf.len())?;
        self.store.load(offset, buf)
    }

    fn erase_sector(&mut self, offset: u32) -> Result<(), FlashError> {
        let sector = self.geometry.sector_size;
        self.geometry.check_erase(offset)?;
        let erased = [0xFFu8; 256];
        let mut at = offset;
        while at < offset + sector {
            self.store.store(at, &erased)?;
            at += erased.len() as u32;
        }
        Ok(())
    }

    fn program(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError> {
        let len = self.geometry.check_program(offset, data.len())?;
        if data.is_empty() {
            return Ok(());
        }
        let mut old = [0u8; 256];
        let old = old
            .get_mut(..data.len())
            .ok_or(FlashError::CrossesPage { offset, len })?;
        self.store.load(offset, old)?;
        // Check the whole range before storing anything, so a refused program changes nothing.
        check_bits_clear_only(offset, old, data)?;
        self.store.store(offset, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: FlashGeometry = FlashGeometry {
        size: 4 * 4096,
        sector_size: 4096,
        page_size: 256,
    };

    type TestFlash = SimulatedNor<RamStore<Vec<u8>>>;

    fn flash() -> TestFlash {
        SimulatedNor::new(RamStore(vec![0xFF; SMALL.size as usize]), SMALL)
    }

    fn read_vec(f: &mut TestFlash, offset: u32, len: usize) -> Vec<u8> {
        let mut v = vec![0; len];
        f.read(offset, &mut v).unwrap();
        v
    }

    #[test]
    fn program_clears_bits_and_reads_back() {
        let mut f = flash();
        f.program(0x100, &[0x12, 0x34]).unwrap();
        assert_eq!(read_vec(&mut f, 0xFF, 4), [0xFF, 0x12, 0x34, 0xFF]);
        // Clearing more bits of an already programmed byte is allowed, as on NOR.
        f.program(0x100, &[0x02]).unwrap();
        assert_eq!(read_vec(&mut f, 0x100, 1), [0x02]);
    }

    #[test]
    fn writing_one_over_zero_is_refused_and_changes_nothing() {
        let mut f = flash();
        f.program(0x200, &[0x00, 0xF0]).unwrap();
        let err = f.program(0x200, &[0x00, 0xF8, 0x0F]).unwrap_err();
        assert_eq!(err, FlashError::BitsNotErased { offset: 0x201 });
        assert_eq!(read_vec(&mut f, 0x200, 3), [0x00, 0xF0, 0xFF]);
    }

    #[test]
    fn program_across_a_page_is_refused_and_neighbours_are_intact() {
        let mut f = flash();
        let err = f.program(0x2FF, &[0x00, 0x00]).unwrap_err();
        assert_eq!(
            err,
            FlashError::CrossesPage {
                offset: 0x2FF,
                len: 2
            }
        );
        assert_eq!(read_vec(&mut f, 0x2FE, 4), [0xFF; 4]);
        // A whole page exactly is fine.
        f.program(0x300, &[0xA5; 256]).unwrap();
        assert_eq!(read_vec(&mut f, 0x2FF, 1), [0xFF]);
        assert_eq!(read_vec(&mut f, 0x400, 1), [0xFF]);
    }

    #[test]
    fn out_of_range_is_refused() {
        let mut f = flash();
        let end = SMALL.size;
        assert!(matches!(
            f.program(end - 1, &[0, 0]),
            Err(FlashError::OutOfRange { .. })
        ));
        assert!(matches!(
            f.read(end, &mut [0u8; 1]),
            Err(FlashError::OutOfRange { .. })
        ));
        assert!(matches!(
            f.read(u32::MAX, &mut [0u8; 2]),
            Err(FlashError::OutOfRange { .. })
        ));
        assert!(matches!(
            f.erase_sector(end),
            Err(FlashError::OutOfRange { .. })
        ));
        assert_eq!(read_vec(&mut f, end - 1, 1), [0xFF]);
    }

    #[test]
    fn erase_resets_exactly_one_sector() {
        let mut f = flash();
        f.program(0x0FFF, &[0]).unwrap();
        f.program(0x1000, &[0]).unwrap();
        f.program(0x1FFF, &[0]).unwrap();
        f.program(0x2000, &[0]).unwrap();
        assert_eq!(
            f.erase_sector(0x1800),
            Err(FlashError::UnalignedErase { offset: 0x1800 })
        );
        f.erase_sector(0x1000).unwrap();
        assert_eq!(read_vec(&mut f, 0x0FFF, 1), [0]);
        assert_eq!(read_vec(&mut f, 0x1000, 0x1000), vec![0xFF; 0x1000]);
        assert_eq!(read_vec(&mut f, 0x2000, 1), [0]);
    }
}
