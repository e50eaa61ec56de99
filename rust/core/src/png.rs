//! PNG encoding that reproduces Pillow's `Image.save(f, "PNG")` byte for byte, for 8-bit
//! L, RGB and RGBA images, with the zlib Pillow itself uses (the system's `libz.so.1`,
//! loaded at run time with `dlopen`: no build dependency).
//!
//! Pillow spends more time choosing each row's filter than zlib spends deflating it; this
//! does the same choice in vectorisable loops and drives zlib with Pillow's exact calls
//! (level 6, window 15, memLevel 9, `Z_FILTERED`, one `deflate` per row, output in
//! `max(65536, 4 × width)`-byte buffers, each buffer one IDAT chunk), so the bytes match.
//! Callers must still check the bytes against Pillow once (`artefact.media._fast_png`):
//! another zlib build (e.g. zlib-ng) deflates differently.

use std::ffi::{c_char, c_int, c_uint, c_ulong, c_void, CStr};
use std::io::{self, Write as _};
use std::path::Path;
use std::sync::OnceLock;

#[repr(C)]
struct ZStream {
    next_in: *const u8,
    avail_in: c_uint,
    total_in: c_ulong,
    next_out: *mut u8,
    avail_out: c_uint,
    total_out: c_ulong,
    msg: *const c_char,
    state: *mut c_void,
    zalloc: *const c_void,
    zfree: *const c_void,
    opaque: *mut c_void,
    data_type: c_int,
    adler: c_ulong,
    reserved: c_ulong,
}

type InitFn = unsafe extern "C" fn(*mut ZStream, c_int, c_int, c_int, c_int, c_int, *const c_char, c_int) -> c_int;
type DeflateFn = unsafe extern "C" fn(*mut ZStream, c_int) -> c_int;
type EndFn = unsafe extern "C" fn(*mut ZStream) -> c_int;
type VersionFn = unsafe extern "C" fn() -> *const c_char;
type Crc32Fn = unsafe extern "C" fn(c_ulong, *const u8, c_uint) -> c_ulong;

struct Zlib {
    init: InitFn,
    deflate: DeflateFn,
    end: EndFn,
    crc32: Crc32Fn,
    version: &'static CStr,
}

const Z_NO_FLUSH: c_int = 0;
const Z_FINISH: c_int = 4;
const Z_STREAM_END: c_int = 1;
const Z_DEFLATED: c_int = 8;
const Z_FILTERED: c_int = 1;
const Z_DEFAULT_COMPRESSION: c_int = -1;
const MAXBLOCK: usize = 65536; // PIL.ImageFile.MAXBLOCK

static ZLIB: OnceLock<Option<Zlib>> = OnceLock::new();

fn load() -> Option<Zlib> {
    // The copy already in the process first (Pillow's and Python's), then the system's.
    for flags in [libc::RTLD_NOW | libc::RTLD_NOLOAD, libc::RTLD_NOW] {
        for lib in [c"libz.so.1", c"libz.so"] {
            // SAFETY: dlopen of a NUL-terminated name; the handle is never closed.
            let h = unsafe { libc::dlopen(lib.as_ptr(), flags) };
            if h.is_null() {
                continue;
            }
            // SAFETY: symbol lookups in a library kept open for the process's life.
            let sym = |name: &CStr| unsafe { libc::dlsym(h, name.as_ptr()) };
            let s = [sym(c"deflateInit2_"), sym(c"deflate"), sym(c"deflateEnd"), sym(c"zlibVersion"), sym(c"crc32")];
            if s.iter().any(|p| p.is_null()) {
                continue;
            }
            // SAFETY: zlib's documented signatures; zlibVersion returns a static string.
            return Some(unsafe {
                let version: VersionFn = std::mem::transmute::<*mut c_void, VersionFn>(s[3]);
                Zlib {
                    init: std::mem::transmute::<*mut c_void, InitFn>(s[0]),
                    deflate: std::mem::transmute::<*mut c_void, DeflateFn>(s[1]),
                    end: std::mem::transmute::<*mut c_void, EndFn>(s[2]),
                    crc32: std::mem::transmute::<*mut c_void, Crc32Fn>(s[4]),
                    version: CStr::from_ptr(version()),
                }
            });
        }
    }
    None
}

fn zlib() -> io::Result<&'static Zlib> {
    ZLIB.get_or_init(load).as_ref().ok_or_else(|| io::Error::other("no zlib (libz.so.1) could be loaded"))
}

/// The version of the zlib used, if one can be loaded.
pub fn zlib_version() -> Option<String> {
    ZLIB.get_or_init(load).as_ref().map(|z| z.version.to_string_lossy().into_owned())
}

fn abs_sum(row: &[u8]) -> u64 {
    // Pillow's "distance from zero": a byte v counts v below 128, else 256 - v.
    row.iter().map(|&v| u64::from(if v < 128 { v } else { v.wrapping_neg() })).sum()
}

/// Pillow's row filters (PNG types 0, 2, 1 and 4 tried in that order; Average only with
/// `optimize`), keeping the first with the strictly smallest sum.
struct Filters {
    bpp: usize,
    up: Vec<u8>,
    sub: Vec<u8>,
    paeth: Vec<u8>,
}

impl Filters {
    fn new(row_bytes: usize, bpp: usize) -> Self {
        let buf = |kind: u8| {
            let mut v = vec![0u8; row_bytes + 1];
            v[0] = kind;
            v
        };
        Self { bpp, up: buf(2), sub: buf(1), paeth: buf(4) }
    }

    /// `cur` and `prev` start with a 0 byte (the filter type None); returns the row to deflate.
    fn choose<'a>(&'a mut self, cur: &'a [u8], prev: &[u8]) -> &'a [u8] {
        let (x, p, bpp) = (&cur[1..], &prev[1..], self.bpp);
        let mut best = 0u8;
        let mut sum = abs_sum(x);
        if sum > 0 {
            for ((o, &a), &b) in self.up[1..].iter_mut().zip(x).zip(p) {
                *o = a.wrapping_sub(b);
            }
            let s = abs_sum(&self.up[1..]);
            if s < sum {
                (best, sum) = (2, s);
            }
        }
        if sum > 0 {
            let out = &mut self.sub[1..];
            out[..bpp].copy_from_slice(&x[..bpp]);
            for ((o, &v), &left) in out[bpp..].iter_mut().zip(&x[bpp..]).zip(x) {
                *o = v.wrapping_sub(left);
            }
            let s = abs_sum(&self.sub[1..]);
            if s < sum {
                (best, sum) = (1, s);
            }
        }
        if sum > 0 {
            let out = &mut self.paeth[1..];
            for i in 0..bpp {
                out[i] = x[i].wrapping_sub(p[i]);
            }
            let n = x.len() - bpp;
            let (xs, left, up, upleft) = (&x[bpp..], &x[..n], &p[bpp..], &p[..n]);
            for (o, (((&v, &a), &b), &c)) in out[bpp..].iter_mut().zip(xs.iter().zip(left).zip(up).zip(upleft)) {
                let (left16, up16, corner16) = (i16::from(a), i16::from(b), i16::from(c));
                let (pa, pb, pc) = ((up16 - corner16).abs(), (left16 - corner16).abs(), (left16 + up16 - 2 * corner16).abs());
                let predictor = if pa <= pb && pa <= pc {
                    a
                } else if pb <= pc {
                    b
                } else {
                    c
                };
                *o = v.wrapping_sub(predictor);
            }
            if abs_sum(&self.paeth[1..]) < sum {
                best = 4;
            }
        }
        match best {
            2 => &self.up,
            1 => &self.sub,
            4 => &self.paeth,
            _ => cur,
        }
    }
}

fn chunk(z: &Zlib, out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    // SAFETY: crc32 over valid slices (each < 4 GiB: chunks are at most one output buffer).
    let crc = unsafe {
        let c = (z.crc32)(0, kind.as_ptr(), 4);
        (z.crc32)(c, data.as_ptr(), data.len() as c_uint)
    };
    out.extend_from_slice(&(crc as u32).to_be_bytes());
}

/// Encode 8-bit pixels (rows of `width × channels` bytes; 1 = L, 3 = RGB, 4 = RGBA) as the
/// PNG Pillow writes for `Image.fromarray(pixels).save(f, "PNG", transparency=None)`.
pub fn encode(pixels: &[u8], width: usize, height: usize, channels: usize) -> io::Result<Vec<u8>> {
    let color_type = match channels {
        1 => 0u8,
        3 => 2,
        4 => 6,
        _ => return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("channels must be 1, 3 or 4, got {channels}"))),
    };
    let row_bytes = width * channels;
    if width == 0 || height == 0 || width > u32::MAX as usize || height > u32::MAX as usize || pixels.len() != row_bytes * height {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} bytes are not a {width}×{height}×{channels} image", pixels.len()),
        ));
    }
    let z = zlib()?;
    let mut out = Vec::with_capacity(pixels.len() + pixels.len() / 64 + 1024);
    out.extend_from_slice(b"\x89PNG\r\n\x1a\n");
    let mut ihdr = [0u8; 13];
    ihdr[..4].copy_from_slice(&(width as u32).to_be_bytes());
    ihdr[4..8].copy_from_slice(&(height as u32).to_be_bytes());
    ihdr[8] = 8;
    ihdr[9] = color_type;
    chunk(z, &mut out, b"IHDR", &ihdr);

    // SAFETY: a zeroed z_stream is deflateInit2's documented starting state.
    let mut strm: ZStream = unsafe { std::mem::zeroed() };
    // SAFETY: as Pillow's ZipEncode.c calls it; the version/size pair is zlib's ABI check.
    let err = unsafe {
        (z.init)(&raw mut strm, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15, 9, Z_FILTERED, z.version.as_ptr(), std::mem::size_of::<ZStream>() as c_int)
    };
    if err != 0 {
        return Err(io::Error::other(format!("deflateInit2 failed ({err})")));
    }
    let result = deflate_rows(z, &mut strm, pixels, width, height, channels, &mut out);
    // SAFETY: the stream was initialised above and is ended once, whatever the result.
    unsafe { (z.end)(&raw mut strm) };
    result?;
    chunk(z, &mut out, b"IEND", b"");
    Ok(out)
}

/// The IDAT chunks: Pillow's rows, filters and deflate calls (see the module).
fn deflate_rows(z: &Zlib, strm: &mut ZStream, pixels: &[u8], width: usize, height: usize, channels: usize, out: &mut Vec<u8>) -> io::Result<()> {
    let row_bytes = width * channels;
    // One output buffer per `ImagingZipEncode` call, each written as one IDAT chunk, as
    // `ImageFile._encode_tile` and PngImagePlugin's `_idat` do.
    let bufsize = MAXBLOCK.max(width * 4);
    let mut buf = vec![0u8; bufsize];
    let mut filters = Filters::new(row_bytes, channels);
    let mut cur = vec![0u8; row_bytes + 1];
    let mut prev = vec![0u8; row_bytes + 1];
    let mut chosen: Vec<u8> = vec![0u8; row_bytes + 1]; // the row zlib may still be reading
    let mut y = 0usize;
    let mut finishing = false;
    loop {
        strm.next_out = buf.as_mut_ptr();
        strm.avail_out = bufsize as c_uint;
        let mut done = false;
        // SAFETY (all deflate calls): `strm` is initialised; next_in points into `chosen`,
        // which is only rewritten after zlib has consumed it (avail_in == 0).
        unsafe {
            if strm.avail_in > 0 {
                (z.deflate)(strm, Z_NO_FLUSH);
            }
            while !finishing && strm.avail_out > 0 {
                if y >= height {
                    finishing = true;
                    break;
                }
                cur[1..].copy_from_slice(&pixels[y * row_bytes..(y + 1) * row_bytes]);
                y += 1;
                let row = filters.choose(&cur, &prev);
                chosen.copy_from_slice(row);
                strm.next_in = chosen.as_ptr();
                strm.avail_in = (row_bytes + 1) as c_uint;
                let err = (z.deflate)(strm, Z_NO_FLUSH);
                if err < 0 {
                    return Err(io::Error::other(format!("deflate failed ({err})")));
                }
                std::mem::swap(&mut cur, &mut prev);
            }
            if finishing {
                while strm.avail_out > 0 {
                    let err = (z.deflate)(strm, Z_FINISH);
                    if err == Z_STREAM_END {
                        done = true;
                        break;
                    }
                    if err < 0 && strm.avail_out > 0 {
                        return Err(io::Error::other(format!("deflate failed ({err})")));
                    }
                }
            }
        }
        let produced = bufsize - strm.avail_out as usize;
        chunk(z, out, b"IDAT", &buf[..produced]);
        if done {
            return Ok(());
        }
    }
}

/// `encode`, then write the PNG to the new file `path` (refused if it exists; removed
/// again if the write fails) and return its (sha256 hex, size, base64 MD5): both digests
/// from the bytes in memory, so the caller never reads the file back.
pub fn write_new(pixels: &[u8], width: usize, height: usize, channels: usize, path: &Path) -> io::Result<(String, usize, String)> {
    use sha2::{Digest as _, Sha256};
    let data = encode(pixels, width, height, channels)?;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(path)?;
    if let Err(e) = f.write_all(&data) {
        drop(f);
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    let md5 = crate::digest::hash_bytes(&data, crate::digest::Algorithm::Md5);
    Ok((format!("{:x}", Sha256::digest(&data)), data.len(), md5))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inflate_rows(png: &[u8]) -> (Vec<u8>, usize) {
        // Walk the chunks; check every CRC and that IDAT chunks are full but the last.
        let z = zlib().unwrap();
        let (mut i, mut idat, mut sizes) = (8usize, Vec::new(), Vec::new());
        while i < png.len() {
            let n = u32::from_be_bytes(png[i..i + 4].try_into().unwrap()) as usize;
            let kind = &png[i + 4..i + 8];
            let data = &png[i + 8..i + 8 + n];
            let crc = u32::from_be_bytes(png[i + 8 + n..i + 12 + n].try_into().unwrap());
            let mut c = Vec::from(kind);
            c.extend_from_slice(data);
            // SAFETY: crc32 over a valid slice.
            assert_eq!(crc, unsafe { (z.crc32)(0, c.as_ptr(), c.len() as c_uint) } as u32);
            if kind == b"IDAT" {
                idat.extend_from_slice(data);
                sizes.push(n);
            }
            i += 12 + n;
        }
        (idat, sizes.len())
    }

    #[test]
    fn rejects_bad_shapes() {
        assert!(encode(&[0; 5], 2, 1, 3).is_err());
        assert!(encode(&[0; 4], 2, 1, 2).is_err());
        assert!(encode(&[], 0, 0, 1).is_err());
    }

    #[test]
    fn writes_well_formed_pngs() {
        if zlib().is_err() {
            return;
        }
        let mut seed = 1u32;
        let pixels: Vec<u8> = (0..300 * 200 * 3)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (seed >> 16) as u8
            })
            .collect();
        let png = encode(&pixels, 300, 200, 3).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let (idat, chunks) = inflate_rows(&png);
        assert!(chunks >= 3, "random pixels fill several 64 KiB IDAT chunks");
        assert!(idat.len() > pixels.len());
        assert!(png.ends_with(b"IEND\xaeB`\x82"));
    }
}
