import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

/**
 * Signs and checks checkpoints as C2SP signed notes (https://c2sp.org/signed-note): the note text,
 * a blank line, then `— <key name> <base64(key hash[4] || Ed25519 signature)>`. The key hash is the
 * first four bytes of SHA-256(name || "\n" || 0x01 || raw public key), so a verifier can tell which
 * of its trusted keys a line claims to be from.
 */
export interface NoteSigner {
  readonly name: string;
  readonly publicKeyPem: string;
  sign(text: string): string;
}

export interface NoteVerifier {
  name: string;
  keyHash: Buffer;
  key: KeyObject;
}

const emDash = "\u2014";

function rawPublicKey(key: KeyObject): Buffer {
  const jwk = key.export({ format: "jwk" });
  if (jwk.x === undefined) throw new Error("not an Ed25519 key");
  return Buffer.from(jwk.x, "base64url");
}

function keyHash(name: string, key: KeyObject): Buffer {
  return createHash("sha256")
    .update(Buffer.concat([Buffer.from(`${name}\n`), Buffer.from([0x01]), rawPublicKey(key)]))
    .digest()
    .subarray(0, 4);
}

/**
 * The audit signing key: read from `path`, or generated once (Ed25519, PEM, mode 0600) when the
 * file does not exist. The file is the only copy; back it up with the data directory.
 */
export function loadOrCreateSigner(path: string, name: string): NoteSigner {
  let privateKey: KeyObject;
  if (existsSync(path)) {
    privateKey = createPrivateKey(readFileSync(path));
    if (privateKey.asymmetricKeyType !== "ed25519")
      throw new Error(`${path} is not an Ed25519 private key; remove it to have a new one generated.`);
  } else {
    mkdirSync(dirname(path), { recursive: true });
    const pair = generateKeyPairSync("ed25519");
    privateKey = pair.privateKey;
    // `wx` refuses to overwrite a key another process created meanwhile; read that one instead.
    try {
      writeFileSync(path, privateKey.export({ format: "pem", type: "pkcs8" }), { mode: 0o600, flag: "wx" });
      chmodSync(path, 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      privateKey = createPrivateKey(readFileSync(path));
    }
  }
  const publicKey = createPublicKey(privateKey);
  const hash = keyHash(name, publicKey);
  return {
    name,
    publicKeyPem: publicKey.export({ format: "pem", type: "spki" }).toString(),
    sign(text) {
      const signature = sign(null, Buffer.from(text), privateKey);
      return `${text}\n${emDash} ${name} ${Buffer.concat([hash, signature]).toString("base64")}\n`;
    },
  };
}

/**
 * How a signing key is named to people: `<key name>+<key hash, 8 hex digits>`, the start of a
 * C2SP verifier key. The key hash is the one in each of its signature lines.
 */
export function keyFingerprint(name: string, keyHash: Buffer): string {
  return `${name}+${keyHash.toString("hex")}`;
}

/**
 * The keys a note's signature lines claim to be by (name and key hash), whether or not their
 * signatures hold; empty for a note that is not a signed note.
 */
export function noteSigners(note: string): Array<{ name: string; keyHash: Buffer }> {
  const split = note.lastIndexOf("\n\n");
  if (split < 0 || !note.endsWith("\n")) return [];
  const signers: Array<{ name: string; keyHash: Buffer }> = [];
  for (const line of note.slice(split + 2, -1).split("\n")) {
    const match = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (match === null) return [];
    const blob = Buffer.from(match[2]!, "base64");
    if (blob.length > 4) signers.push({ name: match[1]!, keyHash: blob.subarray(0, 4) });
  }
  return signers;
}

/** A verifier for a PEM public key under the note's key name. */
export function createNoteVerifier(publicKeyPem: string, name: string): NoteVerifier {
  const key = createPublicKey(publicKeyPem);
  return { name, key, keyHash: keyHash(name, key) };
}

/**
 * The note's text when at least one signature line is a valid signature by a trusted key, else a
 * reason. Lines by unknown keys are ignored, as the spec says.
 */
export function openNote(note: string, verifiers: NoteVerifier[]): { text: string } | { error: string } {
  const split = note.lastIndexOf("\n\n");
  if (split < 0 || !note.endsWith("\n")) return { error: "malformed note" };
  const text = note.slice(0, split + 1);
  const lines = note.slice(split + 2, -1).split("\n");
  for (const line of lines) {
    const match = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (match === null) return { error: "malformed signature line" };
    const blob = Buffer.from(match[2]!, "base64");
    for (const verifier of verifiers) {
      if (verifier.name !== match[1] || !blob.subarray(0, 4).equals(verifier.keyHash)) continue;
      if (verify(null, Buffer.from(text), verifier.key, blob.subarray(4))) return { text };
      return { error: `bad signature by key ${verifier.name}` };
    }
  }
  return { error: "no signature by a trusted key" };
}

/** The checkpoint text of C2SP tlog-checkpoint: origin, size, base64 root hash. */
export function checkpointText(origin: string, size: number, rootHashHex: string): string {
  return `${origin}\n${size}\n${Buffer.from(rootHashHex, "hex").toString("base64")}\n`;
}

/** Origin, size and root hash of a checkpoint's text, or undefined when it is not one. */
export function parseCheckpointText(
  text: string,
): { origin: string; size: number; rootHashHex: string } | undefined {
  const [origin, size, root] = text.split("\n");
  if (origin === undefined || size === undefined || root === undefined || !/^\d+$/.test(size))
    return undefined;
  return { origin, size: Number(size), rootHashHex: Buffer.from(root, "base64").toString("hex") };
}
