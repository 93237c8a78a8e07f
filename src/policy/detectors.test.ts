import { describe, expect, it } from "vitest";
import { configSchema } from "../config/config.ts";
import { createPolicyEngine } from "./policy-engine.ts";
import type { NationalIdKind } from "./validators.ts";

const engine = createPolicyEngine(configSchema.parse({}).policies);
const found = (text: string) => engine.inspectText(text).detections.map((d) => [d.type, d.subtype, d.value]);
const only = (text: string) => {
  const detections = engine.inspectText(text).detections;
  return detections.map((d) => `${d.type}${d.subtype === undefined ? "" : `/${d.subtype}`}:${d.value}`);
};

// Published examples (stdnum test suites, Wikipedia, issuers' test numbers) and the same numbers
// with one check character changed.
const nationalIds: Array<[string, string, string]> = [
  ["fr_nir", "2 95 10 99 126 111 93", "2 95 10 99 126 111 94"],
  ["fr_nir", "195052A12345628", "195052A12345627"],
  ["es_dni", "54362315K", "54362315Z"],
  ["es_nie", "X2482300W", "X2482300A"],
  ["it_codice_fiscale", "RCCMNL83S18D969H", "RCCMNL83S18D967H"],
  ["de_steuer_id", "36574261809", "36574261808"],
  ["nl_bsn", "111222333", "111252333"],
  ["be_national_number", "88.02.29-999.90", "88.02.29-999.91"],
  ["pl_pesel", "44051401359", "44051401358"],
];

describe("national identifiers", () => {
  for (const [subtype, valid, invalid] of nationalIds) {
    it(`${subtype}: flags ${valid}, not ${invalid} (checksum fails)`, () => {
      expect(only(`Identifiant : ${valid}.`)).toEqual([`national_id/${subtype}:${valid}`]);
      expect(only(`Identifiant : ${invalid}.`)).toEqual([]);
    });
  }
});

describe("financial identifiers", () => {
  it("IBAN in lower or mixed case: normalised, then mod-97 as any other; a failing one swallows nothing", () => {
    expect(only("Konto de89 3704 0044 0532 0130 00 bitte.")).toEqual(["iban:de89 3704 0044 0532 0130 00"]);
    expect(only("iban fr1420041010050500013m02606 merci")).toEqual(["iban:fr1420041010050500013m02606"]);
    expect(only("Rekening Nl91 abna 0417 1643 00 graag")).toEqual(["iban:Nl91 abna 0417 1643 00"]);
    expect(only("GB29 nwbk 6016 1331 9268 19 thanks")).toEqual(["iban:GB29 nwbk 6016 1331 9268 19"]);
    // Wrong check digits in lower case: nothing, and the phone number after it is still found.
    expect(only("de88 3704 0044 0532 0130 00")).toEqual([]);
    expect(only("ab12 call 06 12 34 56 78")).toEqual(["phone/national:06 12 34 56 78"]);
  });

  it("IBAN: mod-97 through ibantools, spaced or compact, not with wrong check digits", () => {
    expect(only("Konto DE89 3704 0044 0532 0130 00 bitte.")).toEqual(["iban:DE89 3704 0044 0532 0130 00"]);
    expect(only("IBAN FR1420041010050500013M02606")).toEqual(["iban:FR1420041010050500013M02606"]);
    expect(only("Konto DE88 3704 0044 0532 0130 00 bitte.")).toEqual([]);
    // A following upper-case word is not swallowed into the IBAN.
    expect(only("NL91 ABNA 0417 1643 00 MERCI")).toEqual(["iban:NL91 ABNA 0417 1643 00"]);
  });

  it("payment cards: Luhn and issuer prefix", () => {
    expect(only("carte 4111 1111 1111 1111 ok")).toEqual(["payment_card:4111 1111 1111 1111"]);
    expect(only("amex 3782 822463 10005")).toEqual(["payment_card:3782 822463 10005"]);
    expect(only("carte 4111-1111-1111-1112 ok")).toEqual([]);
    // Luhn-valid but no issuer starts with 9.
    expect(only("ref 9111 1111 1111 1115")).toEqual([]);
  });
});

describe("contact data", () => {
  it("emails, including plus-addressing and accents in the domain", () => {
    expect(only("écrire à jean.dupont+crm@exemple.fr, svp")).toEqual(["email:jean.dupont+crm@exemple.fr"]);
    expect(only("mail: anna@münchen.de.")).toEqual(["email:anna@münchen.de"]);
    expect(only("@everyone see user@localhost or a@b.c")).toEqual([]);
  });

  it("phones: E.164 and national formats, not bare order numbers", () => {
    expect(only("Tel +33 6 12 34 56 78.")).toEqual(["phone/e164:+33 6 12 34 56 78"]);
    expect(only("appelez le 06 12 34 56 78 ou le 01 23 45 67 89")).toEqual([
      "phone/national:06 12 34 56 78",
      "phone/national:01 23 45 67 89",
    ]);
    expect(only("Rufen Sie 030 1234567 an")).toEqual(["phone/national:030 1234567"]);
    expect(only("Telefon: 0170/1234567")).toEqual(["phone/national:0170/1234567"]);
    expect(only("llame al 0034 612 345 678")).toEqual(["phone/international:0034 612 345 678"]);
    expect(only("teléfono 612 34 56 78")).toEqual(["phone/national:612 34 56 78"]);
    expect(only("Bestellung 612345678 versandt")).toEqual([]);
    // Written in the national grouping, without a trunk 0 or a context word.
    expect(only("llámame al 612 345 678 o al 91 123 45 67")).toEqual([
      "phone/national:612 345 678",
      "phone/national:91 123 45 67",
    ]);
    expect(only("proszę dzwonić 600 700 800, chiamami al 347 123 4567")).toEqual([
      "phone/national:600 700 800",
      "phone/national:347 123 4567",
    ]);
    // Amounts and other groupings are not phones.
    expect(only("Le budget est de 1 250 000 euros, soit 212 000 000 ou 500 000 000 au total")).toEqual([]);
    expect(only("le 12/03/2024 à 14:30, 12 500 euros")).toEqual([]);
  });

  it("IP addresses: IPv4 and IPv6, not times, versions with letters or C++ scopes", () => {
    expect(only("host 192.168.1.20 down")).toEqual(["ip_address/ipv4:192.168.1.20"]);
    expect(only("from 2001:db8::1 and fe80::1ff:fe23:4567:890a.")).toEqual([
      "ip_address/ipv6:2001:db8::1",
      "ip_address/ipv6:fe80::1ff:fe23:4567:890a",
    ]);
    expect(only("at 14:30:00, std::vector, 999.1.1.1")).toEqual([]);
  });
});

describe("secrets", () => {
  it("private keys, JWTs and common API key formats", () => {
    const key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\n-----END RSA PRIVATE KEY-----";
    expect(found(`key:\n${key}\nend`)).toEqual([["secret", "private_key", key]]);
    const jwt =
      "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
    expect(found(`Bearer ${jwt}`)).toEqual([["secret", "jwt", jwt]]);
    expect(found("AKIAIOSFODNN7EXAMPLE")).toEqual([["secret", "aws_access_key", "AKIAIOSFODNN7EXAMPLE"]]);
    expect(found(`token ghp_${"a".repeat(36)} ok`)).toEqual([
      ["secret", "github_token", `ghp_${"a".repeat(36)}`],
    ]);
    expect(found("OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwx")[0]?.[0]).toBe("secret");
    expect(found('{"password": "correct-horse-battery"}')).toEqual([
      ["secret", "assigned_secret", "correct-horse-battery"],
    ]);
    expect(found("the task key is short and the skeleton is fine")).toEqual([]);
  });
});

describe("person names (best effort)", () => {
  it("after a title, an introduction, or a listed first name", () => {
    expect(only("Bonjour Mme Lefèvre, merci.")).toEqual(["person/titled:Lefèvre"]);
    expect(only("Ich heiße Jürgen Schäfer.")).toEqual(["person/introduced:Jürgen Schäfer"]);
    expect(only("Hallo Anna Schmidt, danke.")).toEqual(["person/first_name:Anna Schmidt"]);
    expect(only("Szanowny Panie Kowalski")).toEqual(["person/titled:Kowalski"]);
    expect(only("Gentile Ing. Ferri, l'Avv. Galli e mgr inż. Zając")).toEqual([
      "person/titled:Ferri",
      "person/titled:Galli",
      "person/titled:Zając",
    ]);
    expect(only("Me Garnier représente dhr. Smit")).toEqual(["person/titled:Garnier", "person/titled:Smit"]);
  });

  it("a surname announced once is found again where it stands alone", () => {
    expect(only("Frau Hoffmann hat angerufen. Hoffmann bittet um Rückruf; Hoffmannstraße 3.")).toEqual([
      "person/titled:Hoffmann",
      "person/recurrence:Hoffmann",
    ]);
  });

  it("not a bare surname or capitalised nouns", () => {
    expect(only("Dupont a appelé. Die Rechnung Nummer ist falsch.")).toEqual([]);
  });
});

describe("validators on their own", () => {
  it("an IBAN needs the country's length and structure as well as mod-97", async () => {
    const { isIban } = await import("./validators.ts");
    expect(isIban("DE89370400440532013000")).toBe(true);
    expect(isIban("GB82WEST12345698765432")).toBe(true);
    // Valid mod-97 (check digits computed for it), but 20 characters where Germany has 22.
    expect(isIban("DE863704004405320130")).toBe(false);
    expect(isIban("XX89370400440532013000")).toBe(false);
  });
});

describe("hostile input", () => {
  // Each of these would take minutes if a detector were quadratic; linear, they take milliseconds.
  it("scans long pathological runs in linear time", { timeout: 60_000 }, () => {
    const size = 300_000;
    const cases: Array<[string, string[]]> = [
      [`${"a.".repeat(size / 2)}${"@".repeat(2000)}x.fr`, []],
      [`${"1 ".repeat(size / 2)}x`, []],
      [`${"1:".repeat(size / 2)}`, []],
      [`${"-----BEGIN PRIVATE KEY----- ".repeat(size / 28)}`, ["secret"]],
      [`${"Herr ".repeat(size / 5)}`, ["person"]],
      [`${"A".repeat(size)}1`, []],
      [`${"9".repeat(size)}a`, []],
    ];
    for (const [text, types] of cases)
      expect([...new Set(engine.inspectText(text).detections.map((d) => d.type))], text.slice(0, 12)).toEqual(
        types,
      );
  });
});

describe("the arithmetic pre-checks agree with stdnum", () => {
  // isNationalId runs a plain-arithmetic checksum before stdnum; it must never refuse a number
  // stdnum accepts (that would lose recall), so compare on many random candidates with every
  // possible check suffix, a few valid ones among them.
  it("on random candidates of each kind", async () => {
    const { stdnum } = await import("stdnum");
    const { isNationalId } = await import("./validators.ts");
    let seed = 42;
    const random = (limit: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % limit;
    };
    const digits = (count: number) => Array.from({ length: count }, () => random(10)).join("");
    const letters = "TRWAGMYFPDXBNJZSQVHLCKE";
    const pad2 = (value: number) => String(value).padStart(2, "0");
    const kinds = [
      ["fr_nir", "FR", "nir", () => `${1 + random(2)}${digits(12)}`, () => pad2(random(100))],
      ["es_dni", "ES", "dni", () => digits(8), () => letters[random(23)] as string],
      ["es_nie", "ES", "nie", () => `${"XYZ"[random(3)]}${digits(7)}`, () => letters[random(23)] as string],
      ["de_steuer_id", "DE", "idnr", () => `${1 + random(9)}${digits(9)}`, () => digits(1)],
      ["nl_bsn", "NL", "bsn", () => digits(8), () => digits(1)],
      [
        "be_national_number",
        "BE",
        "nn",
        () => `${digits(2)}${pad2(random(13))}${pad2(random(32))}${digits(3)}`,
        () => pad2(random(100)),
      ],
      [
        "pl_pesel",
        "PL",
        "pesel",
        () => `${digits(2)}${pad2(random(93))}${pad2(random(32))}${digits(4)}`,
        () => digits(1),
      ],
    ] as const;
    for (const [kind, country, name, body, suffix] of kinds) {
      let valid = 0;
      for (let index = 0; index < 3000; index++) {
        const candidate = body() + suffix();
        const expected = stdnum[country]?.[name]?.validate(candidate).isValid ?? false;
        if (expected) valid++;
        expect(isNationalId(kind, candidate), `${kind} ${candidate}`).toBe(expected);
      }
      expect(valid, kind).toBeGreaterThan(0);
    }
  });

  it("on random codici fiscali with every check letter", async () => {
    // The check-letter pre-check runs before stdnum confirms the code: it must never refuse one
    // stdnum accepts, and must accept the code whose check letter stdnum computes.
    const { stdnum } = await import("stdnum");
    const { isNationalId } = await import("./validators.ts");
    let seed = 7;
    const random = (limit: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % limit;
    };
    const upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const pick = (alphabet: string) => alphabet[random(alphabet.length)] as string;
    const omocode = "0123456789LMNPQRSTUV";
    let valid = 0;
    for (let index = 0; index < 300; index++) {
      const body = [
        ...Array.from({ length: 6 }, () => pick(upper)),
        pick(omocode),
        pick(omocode),
        pick("ABCDEHLMPRST"),
        pick("0123"),
        pick("0123456789"),
        pick(upper),
        pick(omocode),
        pick(omocode),
        pick(omocode),
      ].join("");
      for (const check of upper) {
        const candidate = body + check;
        const expected = stdnum.IT?.codicefiscale?.validate(candidate).isValid ?? false;
        if (expected) valid++;
        expect(isNationalId("it_codice_fiscale", candidate), candidate).toBe(expected);
      }
    }
    expect(valid).toBeGreaterThan(0);
  });

  it("on the edges of the kinds validated without stdnum (BE dates and BIS months, NIR Corsica, codice fiscale shape)", async () => {
    // BE national number, FR NIR and IT codice fiscale are checked by arithmetic alone, no longer
    // confirmed by stdnum: agree with it on unknown and future dates, leap days, BIS months (+20,
    // +40), check numbers 00 and 97, Corsican departments, and malformed codes.
    const { stdnum } = await import("stdnum");
    const { isNationalId } = await import("./validators.ts");
    // mulberry32: the low bits of a power-of-two LCG repeat too soon to mix the date parts.
    let seed = 11;
    const random = (limit: number) => {
      seed = (seed + 0x6d2b79f5) | 0;
      let mixed = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      mixed = (mixed + Math.imul(mixed ^ (mixed >>> 7), 61 | mixed)) ^ mixed;
      return ((mixed ^ (mixed >>> 14)) >>> 0) % limit;
    };
    const pad2 = (value: number) => String(value).padStart(2, "0");
    const digits = (count: number) => Array.from({ length: count }, () => random(10)).join("");
    const mod97Check = (body: number) => pad2(97 - (body % 97));
    const cases: Array<[NationalIdKind, string, string]> = [];
    const thisYear = new Date().getFullYear() % 100;
    for (let index = 0; index < 4000; index++) {
      const yy = [0, 4, 20, 29, 96, thisYear, thisYear + 1, random(100)][random(8)] as number;
      const month = [0, 2, 13, 20, 21, 32, 40, 41, random(100)][random(9)] as number;
      const day = [0, 1, 29, 30, 31, random(40)][random(6)] as number;
      const first =
        index % 50 === 0
          ? ["000001", "002001", "004001"][random(3)]!
          : `${pad2(yy % 100)}${pad2(month)}${pad2(day)}`;
      const body = `${first}${digits(3)}`;
      const suffix = [
        mod97Check(Number(body)),
        mod97Check(2_000_000_000 + Number(body)),
        "00",
        "97",
        pad2(random(100)),
      ][random(5)] as string;
      cases.push(["be_national_number", "BE", body + suffix]);
    }
    // Born today, tomorrow (still accepted: stdnum allows a day) and the day after, in the 2000s.
    for (const offset of [0, 1, 2, 3]) {
      const date = new Date(Date.now() + offset * 86_400_000);
      const first = `${pad2(date.getUTCFullYear() % 100)}${pad2(date.getUTCMonth() + 1)}${pad2(date.getUTCDate())}`;
      const body = `${first}${digits(3)}`;
      cases.push(["be_national_number", "BE", body + mod97Check(2_000_000_000 + Number(body))]);
    }
    for (let index = 0; index < 3000; index++) {
      const department = ["2A", "2B", "2C", "AB", pad2(random(100))][random(5)] as string;
      const pre = `${1 + random(2)}${digits(4)}`;
      const post = digits(6);
      const numeric = department === "2A" ? "19" : department === "2B" ? "18" : department;
      const right = /^\d\d$/.test(numeric) ? mod97Check(Number(`${pre}${numeric}${post}`)) : "00";
      cases.push([
        "fr_nir",
        "FR",
        `${pre}${department}${post}${random(3) === 0 ? pad2(random(100)) : right}`,
      ]);
    }
    const upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const any = `${upper}0123456789`;
    for (let index = 0; index < 3000; index++) {
      const code = Array.from({ length: 15 + random(3) }, () => any[random(any.length)]).join("");
      cases.push(["it_codice_fiscale", "IT", code]);
    }
    let valid = 0;
    for (const [kind, country, candidate] of cases) {
      const name = { be_national_number: "nn", fr_nir: "nir", it_codice_fiscale: "codicefiscale" }[
        kind as "be_national_number" | "fr_nir" | "it_codice_fiscale"
      ];
      const expected = stdnum[country]?.[name]?.validate(candidate).isValid ?? false;
      if (expected) valid++;
      expect(isNationalId(kind, candidate), `${kind} ${candidate}`).toBe(expected);
    }
    expect(valid).toBeGreaterThan(500);
  });
});
