//! CRC-32C (Castagnoli), the checksum GCS keeps for every object: the only one a
//! composite object has (no MD5), which its downloads are checked against.

const POLY: u32 = 0x82f6_3b78; // reversed 0x1EDC6F41

const fn table() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ POLY } else { c >> 1 };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut i = 0;
    while i < 256 {
        let mut s = 1;
        while s < 8 {
            t[s][i] = (t[s - 1][i] >> 8) ^ t[0][(t[s - 1][i] & 0xff) as usize];
            s += 1;
        }
        i += 1;
    }
    t
}

static TABLE: [[u32; 256]; 8] = table();

/// A running CRC-32C (slice-by-8, no SIMD: it checks the rare object without an MD5).
#[derive(Clone, Copy, Debug, Default)]
pub struct Crc32c(u32);

impl Crc32c {
    pub fn update(&mut self, data: &[u8]) {
        let mut c = !self.0;
        let mut chunks = data.chunks_exact(8);
        for b in &mut chunks {
            let lo = c ^ u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            c = TABLE[7][(lo & 0xff) as usize]
                ^ TABLE[6][((lo >> 8) & 0xff) as usize]
                ^ TABLE[5][((lo >> 16) & 0xff) as usize]
                ^ TABLE[4][(lo >> 24) as usize]
                ^ TABLE[3][b[4] as usize]
                ^ TABLE[2][b[5] as usize]
                ^ TABLE[1][b[6] as usize]
                ^ TABLE[0][b[7] as usize];
        }
        for &b in chunks.remainder() {
            c = (c >> 8) ^ TABLE[0][((c ^ u32::from(b)) & 0xff) as usize];
        }
        self.0 = !c;
    }

    pub fn value(self) -> u32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_values() {
        let mut c = Crc32c::default();
        c.update(b"123456789");
        assert_eq!(c.value(), 0xe306_9283); // the CRC-32C check value
        let data: Vec<u8> = (0..10_007u32).map(|i| (i * 31 % 253) as u8).collect();
        let mut whole = Crc32c::default();
        whole.update(&data);
        let mut pieces = Crc32c::default();
        for p in data.chunks(13) {
            pieces.update(p);
        }
        assert_eq!(whole.value(), pieces.value());
        let mut zeros = Crc32c::default();
        zeros.update(&[0u8; 32]);
        assert_eq!(zeros.value(), 0x8a91_36aa); // RFC 3720 B.4: 32 bytes of zeros
    }
}
