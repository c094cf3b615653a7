//! Shared by the integration tests: a writer of small C-SKY ELF executables.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

/// `sh_type` of a section with contents.
pub const SHT_PROGBITS: u32 = 1;
/// `sh_type` of a section without contents in the file (`.bss`).
pub const SHT_NOBITS: u32 = 8;
/// `sh_flags`: writable, allocated, executable.
pub const SHF_WRITE: u32 = 0x1;
pub const SHF_ALLOC: u32 = 0x2;
pub const SHF_EXECINSTR: u32 = 0x4;

/// The app's run address with the with_ota table.
pub const RUN_ADDRESS: u32 = 0x0800_F400;
/// Where `.data` runs.
pub const RAM: u32 = 0x2000_0000;

/// One section of a synthetic ELF.
#[derive(Debug, Clone)]
pub struct SectionSpec {
    pub name: &'static str,
    pub kind: u32,
    pub flags: u32,
    /// Run address.
    pub addr: u32,
    /// Load address (the `PT_LOAD` segment's `p_paddr`); ignored without `SHF_ALLOC`.
    pub lma: u32,
    /// Contents (for `SHT_NOBITS`: only its length counts).
    pub data: Vec<u8>,
}

fn align4(bytes: &mut Vec<u8>) {
    bytes.resize(bytes.len().next_multiple_of(4), 0);
}

/// A 32-bit little-endian `ET_EXEC` ELF for `machine` with `sections` (after the null
/// section), one `PT_LOAD` segment per allocated section, and a `.shstrtab`.
pub fn elf(machine: u16, entry: u32, sections: &[SectionSpec]) -> Vec<u8> {
    let loaded: Vec<&SectionSpec> = sections
        .iter()
        .filter(|s| s.flags & SHF_ALLOC != 0)
        .collect();
    let phoff = 52usize;
    let mut file = vec![0u8; phoff + 32 * loaded.len()];
    let mut offsets = Vec::new();
    for section in sections {
        align4(&mut file);
        offsets.push(file.len());
        if section.kind != SHT_NOBITS {
            file.extend_from_slice(&section.data);
        }
    }
    let mut names = vec![0u8];
    let mut name_offsets = Vec::new();
    for name in sections.iter().map(|s| s.name).chain([".shstrtab"]) {
        name_offsets.push(names.len() as u32);
        names.extend_from_slice(name.as_bytes());
        names.push(0);
    }
    align4(&mut file);
    let names_offset = file.len();
    file.extend_from_slice(&names);
    align4(&mut file);
    let shoff = file.len();
    file.extend_from_slice(&[0u8; 40]);
    let header =
        |fields: [u32; 10]| -> Vec<u8> { fields.iter().flat_map(|f| f.to_le_bytes()).collect() };
    for (index, section) in sections.iter().enumerate() {
        file.extend(header([
            name_offsets[index],
            section.kind,
            section.flags,
            section.addr,
            offsets[index] as u32,
            section.data.len() as u32,
            0,
            0,
            4,
            0,
        ]));
    }
    file.extend(header([
        name_offsets[sections.len()],
        3,
        0,
        0,
        names_offset as u32,
        names.len() as u32,
        0,
        0,
        1,
        0,
    ]));
    let mut at = phoff;
    for section in loaded {
        let index = sections
            .iter()
            .position(|s| std::ptr::eq(s, section))
            .unwrap();
        let filesz = if section.kind == SHT_NOBITS {
            0
        } else {
            section.data.len() as u32
        };
        let fields = [
            1,
            offsets[index] as u32,
            section.addr,
            section.lma,
            filesz,
            section.data.len() as u32,
            5,
            4,
        ];
        for (slot, field) in fields.iter().enumerate() {
            file[at + 4 * slot..at + 4 * slot + 4].copy_from_slice(&field.to_le_bytes());
        }
        at += 32;
    }
    let mut ehdr = vec![0x7F, b'E', b'L', b'F', 1, 1, 1];
    ehdr.resize(16, 0);
    ehdr.extend_from_slice(&2u16.to_le_bytes());
    ehdr.extend_from_slice(&machine.to_le_bytes());
    ehdr.extend_from_slice(&1u32.to_le_bytes());
    ehdr.extend_from_slice(&entry.to_le_bytes());
    ehdr.extend_from_slice(&(phoff as u32).to_le_bytes());
    ehdr.extend_from_slice(&(shoff as u32).to_le_bytes());
    ehdr.extend_from_slice(&0u32.to_le_bytes());
    for half in [
        52u16,
        32,
        sections_loaded(sections),
        40,
        sections.len() as u16 + 2,
        sections.len() as u16 + 1,
    ] {
        ehdr.extend_from_slice(&half.to_le_bytes());
    }
    file[..52].copy_from_slice(&ehdr);
    file
}

fn sections_loaded(sections: &[SectionSpec]) -> u16 {
    sections.iter().filter(|s| s.flags & SHF_ALLOC != 0).count() as u16
}

/// Compressible, firmware-like bytes.
pub fn code(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| [0x6C, 0x00, (i >> 7) as u8 ^ seed, (i % 29) as u8][i % 4])
        .collect()
}

/// The sections of a well-formed app: `.text` at the run address starting with the reset vector
/// `entry`, `.rodata` right after it, `.data` running in RAM and loaded after `.rodata`, `.bss`,
/// and a section that is not loaded.
pub fn app_sections(entry: u32, text: usize, rodata: usize, data: usize) -> Vec<SectionSpec> {
    let mut text_bytes = code(1, text);
    text_bytes[..4].copy_from_slice(&entry.to_le_bytes());
    let rodata_at = RUN_ADDRESS + text as u32;
    let data_at = rodata_at + rodata as u32;
    vec![
        SectionSpec {
            name: ".text",
            kind: SHT_PROGBITS,
            flags: SHF_ALLOC | SHF_EXECINSTR,
            addr: RUN_ADDRESS,
            lma: RUN_ADDRESS,
            data: text_bytes,
        },
        SectionSpec {
            name: ".rodata",
            kind: SHT_PROGBITS,
            flags: SHF_ALLOC,
            addr: rodata_at,
            lma: rodata_at,
            data: code(2, rodata),
        },
        SectionSpec {
            name: ".data",
            kind: SHT_PROGBITS,
            flags: SHF_ALLOC | SHF_WRITE,
            addr: RAM,
            lma: data_at,
            data: code(3, data),
        },
        SectionSpec {
            name: ".bss",
            kind: SHT_NOBITS,
            flags: SHF_ALLOC | SHF_WRITE,
            addr: RAM + data as u32,
            lma: RAM + data as u32,
            data: vec![0; 4096],
        },
        SectionSpec {
            name: ".comment",
            kind: SHT_PROGBITS,
            flags: 0,
            addr: 0,
            lma: 0,
            data: b"synthetic\0".to_vec(),
        },
    ]
}

/// The C-SKY `e_machine`.
pub const EM_CSKY: u16 = 252;

/// The entry point the app ELFs use.
pub const ENTRY: u32 = RUN_ADDRESS + 0x100;
