import { createHash } from "node:crypto";

/** The 32-byte padding of the PDF standard security handler (ISO 32000-1, 7.6.3.3). */
const PADDING = Buffer.from("28bf4e5e4e758a4164004e56fffa01082e2e00b6d0683e802f0ca9fe6453697a", "hex");

function padded(password: string): Buffer {
  return Buffer.concat([Buffer.from(password, "latin1"), PADDING]).subarray(0, 32);
}

function md5(...parts: Buffer[]): Buffer {
  const hash = createHash("md5");
  for (const part of parts) hash.update(part);
  return hash.digest();
}

/** RC4, written out: OpenSSL 3 keeps it in the legacy provider, which Node does not load. */
function rc4(key: Buffer, data: Buffer): Buffer {
  const s = Array.from({ length: 256 }, (_, i) => i);
  for (let i = 0, j = 0; i < 256; i++) {
    j = (j + s[i]! + key[i % key.length]!) & 255;
    [s[i], s[j]] = [s[j]!, s[i]!];
  }
  const out = Buffer.alloc(data.length);
  for (let n = 0, i = 0, j = 0; n < data.length; n++) {
    i = (i + 1) & 255;
    j = (j + s[i]!) & 255;
    [s[i], s[j]] = [s[j]!, s[i]!];
    out[n] = data[n]! ^ s[(s[i]! + s[j]!) & 255]!;
  }
  return out;
}

/**
 * A one-page PDF whose page says `text`, encrypted with the standard security handler (revision 2,
 * 40-bit RC4), as Acrobat writes it. With an empty `userPassword` any reader opens it (only the
 * owner's permissions are restricted); with one, a reader needs the password to see the text.
 */
export function encryptedPdf(options: { text: string; userPassword: string; ownerPassword: string }): Buffer {
  const permissions = -44; // print and copy refused, as a typical "secured" export
  const id = md5(Buffer.from(options.text));
  const owner = rc4(md5(padded(options.ownerPassword)).subarray(0, 5), padded(options.userPassword));
  const permissionBytes = Buffer.alloc(4);
  permissionBytes.writeInt32LE(permissions);
  const fileKey = md5(padded(options.userPassword), owner, permissionBytes, id).subarray(0, 5);
  const user = rc4(fileKey, PADDING);

  const escaped = options.text.replace(/[\\()]/g, (char) => `\\${char}`);
  const content = Buffer.from(`BT /F1 12 Tf 50 780 Td (${escaped}) Tj ET`, "latin1");
  const contentNumber = 4;
  // Algorithm 1: each object's key mixes in its number and generation.
  const objectKey = md5(
    fileKey,
    Buffer.from([contentNumber & 255, (contentNumber >> 8) & 255, 0, 0, 0]),
  ).subarray(0, 10);
  const encryptedContent = rc4(objectKey, content);

  const objects: Buffer[] = [
    Buffer.from("<< /Type /Catalog /Pages 2 0 R >>"),
    Buffer.from("<< /Type /Pages /Kids [3 0 R] /Count 1 >>"),
    Buffer.from(
      "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
    ),
    Buffer.concat([
      Buffer.from(`<< /Length ${encryptedContent.length} >>\nstream\n`),
      encryptedContent,
      Buffer.from("\nendstream"),
    ]),
    Buffer.from("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"),
    Buffer.from(
      `<< /Filter /Standard /V 1 /R 2 /O <${owner.toString("hex")}> /U <${user.toString("hex")}> /P ${permissions} >>`,
    ),
  ];
  const parts: Buffer[] = [Buffer.from("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", "latin1")];
  let length = parts[0]!.length;
  const offsets: number[] = [];
  for (const [at, body] of objects.entries()) {
    offsets.push(length);
    const object = Buffer.concat([Buffer.from(`${at + 1} 0 obj\n`), body, Buffer.from("\nendobj\n")]);
    parts.push(object);
    length += object.length;
  }
  const xref = [
    "xref",
    `0 ${objects.length + 1}`,
    "0000000000 65535 f ",
    ...offsets.map((offset) => `${String(offset).padStart(10, "0")} 00000 n `),
    "trailer",
    `<< /Size ${objects.length + 1} /Root 1 0 R /Encrypt 6 0 R /ID [<${id.toString("hex")}> <${id.toString("hex")}>] >>`,
    "startxref",
    String(length),
    "%%EOF",
    "",
  ].join("\n");
  parts.push(Buffer.from(xref, "latin1"));
  return Buffer.concat(parts);
}
