//! The image header (`bsp::format::image`) and the OTA file rules on top of it
//! (`bsp::ota::content::FileHeader`).
//!
//! Input: an image file, header first.
//!
//! Contract: a header that parses emits back to the same 64 bytes (the format promises exact
//! inverses) and parses again to the same value; the view's accessors, the body check and the
//! OTA file rules (against the SDK's `with_ota` partition layout) never panic. Each input is
//! tried a second time with its header checksum made right, so that the fuzzer reaches the
//! checks behind it.

use bsp::format::image::{ImageHeader, ImageHeaderRepr, HEADER_LEN};
use bsp::format::ptable::PartitionTableRepr;
use bsp::ota::content::{self, FileHeader};
use bsp::ota::Slots;

pub fn run(data: &[u8]) -> bool {
    view(data);
    let accepted = check(data);
    if let Some(header) = data.get(..HEADER_LEN) {
        let mut fixed = data.to_vec();
        let mut view = ImageHeader::new_unchecked(&mut fixed[..]);
        view.fill_hd_checksum();
        if fixed[..HEADER_LEN] != *header {
            check(&fixed);
        }
    }
    accepted
}

/// Every accessor, on whatever length the input has.
fn view(data: &[u8]) {
    let header = ImageHeader::new_unchecked(data);
    let _ = (
        header.magic_no(),
        header.img_attr().to_string(),
        header.img_addr(),
        header.img_len(),
        header.img_header_addr(),
        header.upgrade_img_addr(),
        header.org_checksum(),
        header.upd_no(),
        header.ver(),
        header.bootloader_flags().to_string(),
        header.reserved1(),
        header.next(),
        header.hd_checksum(),
        header.compute_hd_checksum(),
    );
}

fn check(data: &[u8]) -> bool {
    let repr = match ImageHeaderRepr::parse_bytes(data) {
        Ok(repr) => repr,
        Err(error) => {
            let _ = error.to_string();
            return false;
        }
    };
    let bytes = repr.to_bytes();
    assert_eq!(bytes[..], data[..HEADER_LEN], "{repr:?} emits other bytes");
    assert_eq!(ImageHeaderRepr::parse_bytes(&bytes), Ok(repr));
    let _ = repr.to_string();

    let rest = &data[HEADER_LEN..];
    let body_len = usize::try_from(repr.img_len).map_or(rest.len(), |len| len.min(rest.len()));
    let _ = repr.check_body(&rest[..body_len]);
    let _ = repr.signature_len();

    let slots = Slots::from_table(&PartitionTableRepr::with_ota()).expect("with_ota has app_ota");
    if let Ok(file) = FileHeader::parse(&bytes, &slots) {
        assert_eq!(file.bytes(), &bytes);
        assert_eq!(file.repr(), &repr);
        let _ = content::file_len(&repr, &slots);
    }
    true
}
