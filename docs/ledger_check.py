#!/usr/bin/env python3
"""A receipt's place in the arrival ledger, checked by hand (docs/ledger.md).

    pdftotext ricevuta.pdf - | sed 's/^ *//;s/ *$//' > receipt.txt
    python3 ledger_check.py receipt.txt LEDGER_VERIFIER_KEY

Standard library only, plus the `openssl` command for the Ed25519
signature. It does not check the receipt's own signature: see
docs/receipts.md for that.
"""
import base64, calendar, hashlib, os, subprocess, sys, tempfile, time


def statement(lines):
    start = lines.index("clickday-receipt-v2")
    fields = {}
    for line in lines[start + 1:]:
        key, _, value = line.partition(": ")
        fields[key] = value
        if key == "body_sha256":
            return fields
    sys.exit("no complete clickday-receipt-v2 statement")


def escape(text):
    return "".join(chr(b) if 0x21 <= b <= 0x7E and b != 0x25 else "%%%02X" % b for b in text.encode())


def leaf(s):
    whole, frac = s["received_at"].rstrip("Z").split(".")
    nanos = calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S")) * 10**9 + int(frac)
    fields = [escape(s["click_day"]), escape(s["category"]), escape(s["province"]), str(nanos),
              s["node"], s["seq"], escape(s["submission_id"]), escape(s["key_id"]), s["body_sha256"]]
    return ("clickday-leaf/v1 " + " ".join(fields) + "\n").encode()


def proof(lines):
    rest = [l for l in lines[lines.index("c2sp.org/tlog-proof@v1") + 1:] if l]
    index = int(rest.pop(0).split(" ")[1])
    path = []
    while len(rest[0]) == 44 and rest[0].endswith("="):
        path.append(base64.b64decode(rest.pop(0)))
    origin, size, root = rest[0], int(rest[1]), base64.b64decode(rest[2])
    signatures = [l for l in rest[3:] if l.startswith("\u2014 ")]
    return index, path, origin, size, root, rest[0:3], signatures


def climb(index, size, leaf_hash, path):
    """RFC 9162, 2.1.3.2: the root the audit path leads to."""
    fn, sn, r = index, size - 1, leaf_hash
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + p + r).digest()
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = hashlib.sha256(b"\x01" + r + p).digest()
        fn, sn = fn >> 1, sn >> 1
    return r if sn == 0 else None


def signed(note_lines, signatures, vkey):
    name, key_id, key = vkey.split("+", 2)
    key = base64.b64decode(key)[1:]  # after the algorithm byte (1 = Ed25519)
    for line in signatures:
        signer, blob = line[2:].split(" ")
        blob = base64.b64decode(blob)
        if signer == name and blob[:4].hex() == key_id:
            with tempfile.TemporaryDirectory() as d:
                files = {n: os.path.join(d, n) for n in ("text", "sig", "key.der")}
                open(files["text"], "wb").write(("\n".join(note_lines) + "\n").encode())
                open(files["sig"], "wb").write(blob[4:])
                open(files["key.der"], "wb").write(bytes.fromhex("302a300506032b6570032100") + key)
                ok = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", files["key.der"],
                                     "-keyform", "DER", "-rawin", "-in", files["text"], "-sigfile", files["sig"]],
                                    capture_output=True)
                return ok.returncode == 0
    return False


def main():
    lines = [l.strip() for l in open(sys.argv[1], encoding="utf-8").read().splitlines()]
    s = statement(lines)
    index, path, origin, size, root, note, signatures = proof(lines)
    if not origin.endswith("/" + s["click_day"]):
        sys.exit(f"the proof is against {origin}, not the ledger of click day {s['click_day']}")
    if climb(index, size, hashlib.sha256(b"\x00" + leaf(s)).digest(), path) != root:
        sys.exit(f"leaf {index} of {size}: NOT included (the statement or the proof was changed)")
    if not signed(note, signatures, sys.argv[2]):
        sys.exit("the checkpoint is NOT signed by that ledger key")
    print(f"leaf {index} of {size}: included, checkpoint signature verified")


if __name__ == "__main__":
    main()
