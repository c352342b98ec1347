//! Huffman decoding of HPACK strings (RFC 7541 5.2, Appendix B).
//!
//! The code is canonical: within each length, codes count up in symbol
//! order, and each length starts where the shorter ones left off. So the
//! code lengths alone define it, and the tables the decoder works from are
//! derived from them at compile time. A symbol is found by comparing the
//! next 32 bits, left-aligned, with the first code of each length, starting
//! from the shortest length their first byte can begin.

/// Appendix B: each symbol's code length in bits, octets 0 to 255, then
/// EOS (256).
const LENGTHS: [u8; 257] = [
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, //
    28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, //
    6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, //
    5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, //
    13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, //
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, //
    15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, //
    6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, //
    20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, //
    24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, //
    22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, //
    21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, //
    26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, //
    19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, //
    20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, //
    26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, //
    30,
];
const EOS: u16 = 256;
const LONGEST: u32 = 30;

/// The decoding tables, indexed by code length.
struct Code {
    /// Symbols in code order: by length, then by value.
    symbols: [u16; 257],
    /// The first code of each length (right-aligned), and where its symbol
    /// is in `symbols`.
    first: [u32; 31],
    at: [u16; 31],
    /// A 32-bit window, left-aligned, below `end[n]` starts with a code of
    /// at most `n` bits (`end[30]` is past every window).
    end: [u64; 31],
    /// For each first byte of a window, the shortest code it can begin.
    shortest: [u8; 256],
}

const CODE: Code = derive();

const fn derive() -> Code {
    let mut code = Code {
        symbols: [0; 257],
        first: [0; 31],
        at: [0; 31],
        end: [0; 31],
        shortest: [0; 256],
    };
    let (mut next, mut placed, mut len) = (0u32, 0usize, 1);
    while len <= LONGEST as usize {
        code.first[len] = next;
        code.at[len] = placed as u16;
        let mut symbol = 0;
        while symbol < LENGTHS.len() {
            if LENGTHS[symbol] as usize == len {
                code.symbols[placed] = symbol as u16;
                placed += 1;
                next += 1;
            }
            symbol += 1;
        }
        code.end[len] = (next as u64) << (32 - len);
        next <<= 1;
        len += 1;
    }
    let mut byte = 0;
    while byte < 256 {
        let window = (byte as u64) << 24;
        let mut len = 1;
        while window >= code.end[len] {
            len += 1;
        }
        code.shortest[byte] = len as u8;
        byte += 1;
    }
    code
}

#[derive(Debug, PartialEq)]
pub(super) struct BadHuffman;

/// The symbol a 32-bit window starts with, and its code's length.
fn symbol(window: u32) -> (u16, u32) {
    let mut len = CODE.shortest[(window >> 24) as usize] as usize;
    while u64::from(window) >= CODE.end[len] {
        len += 1;
    }
    let rank = (window >> (32 - len)) - CODE.first[len];
    (
        CODE.symbols[CODE.at[len] as usize + rank as usize],
        len as u32,
    )
}

/// Appends the octets `src` encodes to `out`. Fails on EOS inside the
/// string, and on padding that is 8 bits or more or not all ones (5.2).
pub(super) fn decode(src: &[u8], out: &mut Vec<u8>) -> Result<(), BadHuffman> {
    // The undecoded bits are the low `bits` bits of `pending`.
    let (mut pending, mut bits) = (0u64, 0u32);
    for &byte in src {
        pending = pending << 8 | u64::from(byte);
        bits += 8;
        // The longest code is surely whole.
        while bits >= LONGEST {
            let (symbol, len) = symbol((pending << (64 - bits) >> 32) as u32);
            if symbol == EOS {
                return Err(BadHuffman);
            }
            out.push(symbol as u8);
            bits -= len;
            pending &= (1 << bits) - 1;
        }
    }
    while bits > 0 {
        // Padded with ones past the end: only a code that ends within the
        // string counts.
        let window = pending << (32 - bits) | ((1 << (32 - bits)) - 1);
        let (symbol, len) = symbol(window as u32);
        if len > bits {
            break;
        }
        if symbol == EOS {
            return Err(BadHuffman);
        }
        out.push(symbol as u8);
        bits -= len;
        pending &= (1 << bits) - 1;
    }
    if bits >= 8 || pending != (1 << bits) - 1 {
        return Err(BadHuffman);
    }
    Ok(())
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// The code of `symbol`, right-aligned, and its length: the test's own
    /// encoder, from the same lengths.
    fn code_of(symbol: usize) -> (u32, u32) {
        let len = LENGTHS[symbol] as usize;
        let rank = CODE.symbols[CODE.at[len] as usize..]
            .iter()
            .position(|s| *s as usize == symbol)
            .unwrap();
        (CODE.first[len] + rank as u32, len as u32)
    }

    pub(in crate::hpack) fn encode(src: &[u8]) -> Vec<u8> {
        let (mut out, mut pending, mut bits) = (Vec::new(), 0u64, 0u32);
        for &byte in src {
            let (code, len) = code_of(byte.into());
            pending = pending << len | u64::from(code);
            bits += len;
            while bits >= 8 {
                out.push((pending >> (bits - 8)) as u8);
                bits -= 8;
            }
        }
        if bits > 0 {
            out.push((pending << (8 - bits) | ((1 << (8 - bits)) - 1)) as u8);
        }
        out
    }

    fn decoded(src: &[u8]) -> Result<Vec<u8>, BadHuffman> {
        let mut out = Vec::new();
        decode(src, &mut out).map(|()| out)
    }

    /// The lengths make a complete prefix code (Kraft's sum is exactly 1),
    /// and the codes they derive are Appendix B's, as far as it is quoted
    /// here: the first, the 5-bit ones, a long one and EOS.
    #[test]
    fn the_derived_code_is_appendix_bs() {
        let kraft: u64 = LENGTHS
            .iter()
            .map(|l| 1u64 << (LONGEST - u32::from(*l)))
            .sum();
        assert_eq!(kraft, 1 << LONGEST);
        assert_eq!(code_of(b'0'.into()), (0x0, 5));
        assert_eq!(code_of(b't'.into()), (0x9, 5));
        assert_eq!(code_of(b' '.into()), (0x14, 6));
        assert_eq!(code_of(0), (0x1ff8, 13));
        assert_eq!(code_of(b'<'.into()), (0x7ffc, 15));
        assert_eq!(code_of(255), (0x3ffffee, 26));
        assert_eq!(code_of(256), (0x3fff_ffff, 30));
    }

    /// C.4 and C.6: the RFC's own Huffman-coded strings.
    #[test]
    fn rfc_7541_examples_decode() {
        let examples: [(&str, &[u8]); 5] = [
            (
                "www.example.com",
                b"\xf1\xe3\xc2\xe5\xf2\x3a\x6b\xa0\xab\x90\xf4\xff",
            ),
            ("no-cache", b"\xa8\xeb\x10\x64\x9c\xbf"),
            ("custom-key", b"\x25\xa8\x49\xe9\x5b\xa9\x7d\x7f"),
            ("custom-value", b"\x25\xa8\x49\xe9\x5b\xb8\xe8\xb4\xbf"),
            ("302", b"\x64\x02"),
        ];
        for (text, coded) in examples {
            assert_eq!(decoded(coded).unwrap(), text.as_bytes(), "{text}");
            assert_eq!(encode(text.as_bytes()), coded, "{text}");
        }
    }

    /// Every octet, alone and among others, comes back as it went.
    #[test]
    fn every_octet_round_trips() {
        for byte in 0..=255u8 {
            assert_eq!(decoded(&encode(&[byte])).unwrap(), [byte]);
        }
        let all: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
        assert_eq!(decoded(&encode(&all)).unwrap(), all);
        assert_eq!(decoded(b"").unwrap(), b"");
    }

    /// 5.2: padding longer than 7 bits, padding that is not EOS's leading
    /// ones, and EOS itself are errors.
    #[test]
    fn bad_padding_and_eos_are_refused() {
        let mut long_padding = encode(b"a");
        long_padding.push(0xff);
        assert_eq!(decoded(&long_padding), Err(BadHuffman));
        // 'a' is 00011: then three zero bits instead of ones.
        assert_eq!(decoded(&[0b0001_1000]), Err(BadHuffman));
        assert_eq!(decoded(&[0xff, 0xff, 0xff, 0xff]), Err(BadHuffman));
        assert_eq!(decoded(&[0xff]), Err(BadHuffman));
    }
}
