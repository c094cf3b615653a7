//! The app binary from the firmware's ELF, as the SDK's `elf2bin.py` makes it (docs/w800.md,
//! "Image files"; docs/flashing.md, "The app binary"): the contents of `.text`, `.rodata` and
//! `.data`, in that order and back to back, starting at the app's run address.
//!
//! Only what that needs of ELF is read (32-bit little-endian executables; the System V gABI's
//! file header, section headers and program headers). Every offset is checked, nothing panics.

use std::fmt;

/// The sections of the app binary, in flash order.
pub const APP_SECTIONS: [&str; 3] = [".text", ".rodata", ".data"];

/// `e_machine` of C-SKY.
pub const EM_CSKY: u16 = 252;

const ET_EXEC: u16 = 2;
const SHT_NOBITS: u32 = 8;
const SHF_ALLOC: u32 = 0x2;
const PT_LOAD: u32 = 1;
const FILE_HEADER_LEN: usize = 52;
const SECTION_HEADER_LEN: usize = 40;
const PROGRAM_HEADER_LEN: usize = 32;

/// Why an ELF file cannot become the app binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElfError {
    /// The file does not start with an ELF identification.
    NotElf,
    /// An ELF the tool does not read (the reason says which property).
    Unsupported(&'static str),
    /// A header or a section's contents lie outside the file.
    Truncated(&'static str),
    /// A section name is not a NUL-terminated UTF-8 string inside the section-name table.
    BadName { index: usize },
    /// `.text` is missing.
    MissingSection(&'static str),
    /// An app section has no contents in the file (`SHT_NOBITS`).
    NoContents(String),
    /// An allocated section with contents that the app binary would leave out.
    Unplaced(String),
    /// An app section's load address is not where the binary puts it.
    Misplaced {
        name: String,
        expected: u32,
        actual: u32,
    },
    /// The first word of `.text` (the vector table's reset vector) is not the entry point.
    ResetVector { vector: u32, entry: u32 },
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElfError::NotElf => write!(f, "not an ELF file"),
            ElfError::Unsupported(what) => write!(f, "ELF: {what}"),
            ElfError::Truncated(what) => write!(f, "ELF: {what} lies outside the file"),
            ElfError::BadName { index } => write!(f, "ELF: section {index} has no valid name"),
            ElfError::MissingSection(name) => write!(f, "ELF: no {name} section"),
            ElfError::NoContents(name) => {
                write!(f, "ELF: section {name} has no contents in the file")
            }
            ElfError::Unplaced(name) => write!(
                f,
                "ELF: section {name} is loaded but is none of {}; the app binary would lose it",
                APP_SECTIONS.join(", ")
            ),
            ElfError::Misplaced {
                name,
                expected,
                actual,
            } => write!(
                f,
                "ELF: section {name} loads at 0x{actual:08x}, the app binary puts it at \
                 0x{expected:08x} (.text at the run address, each next section right after)"
            ),
            ElfError::ResetVector { vector, entry } => write!(
                f,
                "ELF: the first word of .text (the reset vector) is 0x{vector:08x}, the entry \
                 point is 0x{entry:08x}"
            ),
        }
    }
}

impl std::error::Error for ElfError {}

fn u16_at(data: &[u8], offset: usize) -> Option<u16> {
    let bytes = data.get(offset..offset.checked_add(2)?)?;
    Some(u16::from_le_bytes(bytes.try_into().ok()?))
}

fn u32_at(data: &[u8], offset: usize) -> Option<u32> {
    let bytes = data.get(offset..offset.checked_add(4)?)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

fn usize_at(data: &[u8], offset: usize) -> Option<usize> {
    u32_at(data, offset).and_then(|value| usize::try_from(value).ok())
}

/// One section header, with its load address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// Its name.
    pub name: String,
    /// `sh_type`.
    pub kind: u32,
    /// `sh_flags`.
    pub flags: u32,
    /// `sh_addr`: where it runs.
    pub addr: u32,
    /// Where it is loaded: through the `PT_LOAD` segment that holds it, else `sh_addr`.
    pub lma: u32,
    /// `sh_offset`.
    pub offset: usize,
    /// `sh_size`.
    pub size: u32,
}

impl Section {
    /// Whether the section takes room in the loaded image and has bytes in the file.
    fn is_loaded_contents(&self) -> bool {
        self.flags & SHF_ALLOC != 0 && self.kind != SHT_NOBITS && self.size != 0
    }
}

/// A `PT_LOAD` program header.
#[derive(Debug, Clone, Copy)]
struct Segment {
    offset: usize,
    vaddr: u32,
    paddr: u32,
    filesz: usize,
    memsz: u32,
}

impl Segment {
    /// The load address of `section` if this segment holds it.
    fn lma_of(&self, offset: usize, addr: u32, size: u32) -> Option<u32> {
        let size_in_file = usize::try_from(size).ok()?;
        let in_file = offset >= self.offset
            && offset.checked_add(size_in_file)? <= self.offset.checked_add(self.filesz)?;
        let in_memory = addr >= self.vaddr
            && u64::from(addr) + u64::from(size) <= u64::from(self.vaddr) + u64::from(self.memsz);
        (in_file && in_memory).then(|| self.paddr.wrapping_add(addr - self.vaddr))
    }
}

/// A parsed 32-bit little-endian ELF executable.
#[derive(Debug)]
pub struct Elf<'a> {
    data: &'a [u8],
    /// `e_machine`.
    pub machine: u16,
    /// `e_entry`.
    pub entry: u32,
    /// Every section header but the null one at index 0.
    pub sections: Vec<Section>,
}

impl<'a> Elf<'a> {
    /// Reads the file header, program headers and section headers of `data`.
    pub fn parse(data: &'a [u8]) -> Result<Self, ElfError> {
        if data.get(..4) != Some(b"\x7fELF".as_slice()) {
            return Err(ElfError::NotElf);
        }
        if data.len() < FILE_HEADER_LEN {
            return Err(ElfError::Truncated("the file header"));
        }
        if data[4] != 1 {
            return Err(ElfError::Unsupported("not a 32-bit ELF"));
        }
        if data[5] != 1 {
            return Err(ElfError::Unsupported("not little endian"));
        }
        let field16 = |offset| u16_at(data, offset).ok_or(ElfError::Truncated("the file header"));
        let field32 = |offset| usize_at(data, offset).ok_or(ElfError::Truncated("the file header"));
        if field16(16)? != ET_EXEC {
            return Err(ElfError::Unsupported("not an executable (ET_EXEC)"));
        }
        let machine = field16(18)?;
        let entry = u32_at(data, 24).ok_or(ElfError::Truncated("the file header"))?;
        let (phoff, shoff) = (field32(28)?, field32(32)?);
        let (phentsize, phnum) = (usize::from(field16(42)?), usize::from(field16(44)?));
        let (shentsize, shnum) = (usize::from(field16(46)?), usize::from(field16(48)?));
        let shstrndx = usize::from(field16(50)?);
        if phnum != 0 && phentsize != PROGRAM_HEADER_LEN {
            return Err(ElfError::Unsupported("program header size is not 32"));
        }
        if shentsize != SECTION_HEADER_LEN {
            return Err(ElfError::Unsupported("section header size is not 40"));
        }
        if shnum == 0 || shstrndx >= shnum {
            return Err(ElfError::Unsupported(
                "no section headers, or extended section numbering",
            ));
        }

        let table_fits = |offset: usize, count: usize, entry_len: usize| {
            offset
                .checked_add(count * entry_len)
                .is_some_and(|end| end <= data.len())
        };
        if !table_fits(phoff, phnum, PROGRAM_HEADER_LEN) {
            return Err(ElfError::Truncated("the program headers"));
        }
        if !table_fits(shoff, shnum, SECTION_HEADER_LEN) {
            return Err(ElfError::Truncated("the section headers"));
        }

        let mut segments = Vec::new();
        for index in 0..phnum {
            let at = phoff
                .checked_add(index * PROGRAM_HEADER_LEN)
                .ok_or(ElfError::Truncated("a program header"))?;
            let field = |offset: usize| {
                u32_at(data, at.saturating_add(offset))
                    .ok_or(ElfError::Truncated("a program header"))
            };
            if field(0)? != PT_LOAD {
                continue;
            }
            let as_usize = |value: u32| {
                usize::try_from(value).map_err(|_| ElfError::Truncated("a program header"))
            };
            segments.push(Segment {
                offset: as_usize(field(4)?)?,
                vaddr: field(8)?,
                paddr: field(12)?,
                filesz: as_usize(field(16)?)?,
                memsz: field(20)?,
            });
        }

        let header = |index: usize| -> Result<[u32; 6], ElfError> {
            let at = shoff
                .checked_add(index * SECTION_HEADER_LEN)
                .ok_or(ElfError::Truncated("a section header"))?;
            let mut fields = [0u32; 6];
            for (slot, field) in fields.iter_mut().enumerate() {
                *field = u32_at(data, at.saturating_add(4 * slot))
                    .ok_or(ElfError::Truncated("a section header"))?;
            }
            Ok(fields)
        };
        let [_, _, _, _, names_offset, names_size] = header(shstrndx)?;
        let names = usize::try_from(names_offset)
            .ok()
            .zip(usize::try_from(names_size).ok())
            .and_then(|(offset, size)| data.get(offset..offset.checked_add(size)?))
            .ok_or(ElfError::Truncated("the section-name table"))?;

        let mut sections = Vec::with_capacity(shnum - 1);
        for index in 1..shnum {
            let [name, kind, flags, addr, offset, size] = header(index)?;
            let name = usize::try_from(name)
                .ok()
                .and_then(|start| names.get(start..))
                .and_then(|rest| {
                    let end = rest.iter().position(|&byte| byte == 0)?;
                    std::str::from_utf8(&rest[..end]).ok()
                })
                .ok_or(ElfError::BadName { index })?
                .to_owned();
            let offset =
                usize::try_from(offset).map_err(|_| ElfError::Truncated("a section header"))?;
            let lma = segments
                .iter()
                .find_map(|segment| segment.lma_of(offset, addr, size))
                .unwrap_or(addr);
            sections.push(Section {
                name,
                kind,
                flags,
                addr,
                lma,
                offset,
                size,
            });
        }
        Ok(Elf {
            data,
            machine,
            entry,
            sections,
        })
    }

    /// The section called `name`.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|section| section.name == name)
    }

    /// The bytes of `section` in the file.
    pub fn contents(&self, section: &Section) -> Result<&'a [u8], ElfError> {
        if section.kind == SHT_NOBITS {
            return Err(ElfError::NoContents(section.name.clone()));
        }
        usize::try_from(section.size)
            .ok()
            .and_then(|size| {
                self.data
                    .get(section.offset..section.offset.checked_add(size)?)
            })
            .ok_or(ElfError::Truncated("a section's contents"))
    }
}

/// One section's place in the app binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// `.text`, `.rodata` or `.data`.
    pub name: &'static str,
    /// Its load address (flash, XIP).
    pub lma: u32,
    /// Its run address (`.data` runs in RAM).
    pub addr: u32,
    /// Its size in bytes.
    pub size: u32,
}

/// The app binary and where its parts came from.
#[derive(Debug, Clone)]
pub struct AppBinary {
    /// The bytes for the app partition, after the header area.
    pub data: Vec<u8>,
    /// The app sections present, in order.
    pub parts: Vec<Part>,
    /// The ELF's entry point (the reset vector).
    pub entry: u32,
}

/// Builds the app binary of the C-SKY executable `elf`, which must be linked to run at
/// `run_address`: `.text` there, `.rodata` and `.data` loaded right after it in that order, no
/// other section with contents loaded, and the vector table's reset vector (the first word of
/// `.text`) the entry point.
pub fn app_binary(elf: &[u8], run_address: u32) -> Result<AppBinary, ElfError> {
    let elf = Elf::parse(elf)?;
    if elf.machine != EM_CSKY {
        return Err(ElfError::Unsupported(
            "not a C-SKY executable (e_machine 252)",
        ));
    }
    if let Some(stray) = elf.sections.iter().find(|section| {
        section.is_loaded_contents() && !APP_SECTIONS.contains(&section.name.as_str())
    }) {
        return Err(ElfError::Unplaced(stray.name.clone()));
    }
    if elf.section(APP_SECTIONS[0]).is_none() {
        return Err(ElfError::MissingSection(APP_SECTIONS[0]));
    }
    let mut data = Vec::new();
    let mut parts = Vec::new();
    let mut next = run_address;
    for name in APP_SECTIONS {
        let Some(section) = elf.section(name) else {
            continue;
        };
        let contents = elf.contents(section)?;
        if section.lma != next {
            return Err(ElfError::Misplaced {
                name: name.to_owned(),
                expected: next,
                actual: section.lma,
            });
        }
        data.extend_from_slice(contents);
        parts.push(Part {
            name,
            lma: section.lma,
            addr: section.addr,
            size: section.size,
        });
        next = next.wrapping_add(section.size);
    }
    let vector = u32_at(&data, 0).unwrap_or(0);
    if vector != elf.entry {
        return Err(ElfError::ResetVector {
            vector,
            entry: elf.entry,
        });
    }
    Ok(AppBinary {
        data,
        parts,
        entry: elf.entry,
    })
}

impl fmt::Display for AppBinary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "app binary: {} bytes, entry 0x{:08x}",
            self.data.len(),
            self.entry
        )?;
        write!(
            f,
            "  {:<8} {:>10} {:>10} {:>10}",
            "section", "load", "run", "size"
        )?;
        for part in &self.parts {
            write!(
                f,
                "\n  {:<8} 0x{:08x} 0x{:08x} {:>10}",
                part.name, part.lma, part.addr, part.size
            )?;
        }
        Ok(())
    }
}
