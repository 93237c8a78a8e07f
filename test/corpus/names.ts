/**
 * A hand-labelled set for measuring person-name recall, written to include what the heuristics
 * are known to miss (bare surnames, first names outside the list, lower case, initials), so that
 * the recall reported in the README is not flattered. `names` lists every person name in `text`.
 */
export interface LabelledNames {
  language: string;
  text: string;
  names: string[];
}

export const labelledNames: LabelledNames[] = [
  { language: "fr", text: "Bonjour Mme Lefèvre, votre dossier est prêt.", names: ["Lefèvre"] },
  { language: "fr", text: "Je m'appelle Camille Rousseau et j'habite à Lyon.", names: ["Camille Rousseau"] },
  { language: "fr", text: "Claire Martin a signé le contrat hier.", names: ["Claire Martin"] },
  { language: "fr", text: "Transmettez à M. Bernard Petit la facture.", names: ["Bernard Petit"] },
  { language: "fr", text: "Dupont n'a pas répondu à notre relance.", names: ["Dupont"] },
  { language: "fr", text: "Le client Gaëtan Morel demande un avoir.", names: ["Gaëtan Morel"] },
  { language: "fr", text: "signé : j. moreau, service achats", names: ["j. moreau"] },
  { language: "de", text: "Sehr geehrte Frau Hoffmann, vielen Dank.", names: ["Hoffmann"] },
  {
    language: "de",
    text: "Mein Name ist Lukas Becker, ich rufe wegen der Rechnung an.",
    names: ["Lukas Becker"],
  },
  {
    language: "de",
    text: "Sabine Wagner aus der Buchhaltung hat das freigegeben.",
    names: ["Sabine Wagner"],
  },
  { language: "de", text: "Herr Dr. Klaus Weber ist ab Montag im Urlaub.", names: ["Klaus Weber"] },
  { language: "de", text: "Bitte an Jannik Vogt weiterleiten.", names: ["Jannik Vogt"] },
  { language: "de", text: "Schulze hat die Lieferung bestätigt.", names: ["Schulze"] },
  { language: "de", text: "Gestern schrieb mir Annika Krüger wegen des Termins.", names: ["Annika Krüger"] },
  { language: "it", text: "Gentile Sig.ra Bianchi, le scriviamo per il rinnovo.", names: ["Bianchi"] },
  { language: "it", text: "Mi chiamo Giulia Ferrari e vorrei un appuntamento.", names: ["Giulia Ferrari"] },
  { language: "it", text: "Marco Esposito ha chiesto un rimborso.", names: ["Marco Esposito"] },
  { language: "it", text: "Il dott. Romano è assente oggi.", names: ["Romano"] },
  { language: "it", text: "Ho parlato con Ilaria Gallo della fattura.", names: ["Ilaria Gallo"] },
  { language: "it", text: "Rossi ha confermato la consegna.", names: ["Rossi"] },
  { language: "es", text: "Estimado Sr. García, le escribimos por su pedido.", names: ["García"] },
  { language: "es", text: "Me llamo Lucía Fernández y tengo una consulta.", names: ["Lucía Fernández"] },
  { language: "es", text: "Javier Ruiz Gómez firmó el acuerdo.", names: ["Javier Ruiz Gómez"] },
  { language: "es", text: "Hable con Iker Etxeberria mañana.", names: ["Iker Etxeberria"] },
  { language: "es", text: "La señora Ortega llamó dos veces.", names: ["Ortega"] },
  { language: "es", text: "Martínez no ha enviado el informe.", names: ["Martínez"] },
  { language: "nl", text: "Geachte mevrouw Visser, hartelijk dank.", names: ["Visser"] },
  { language: "nl", text: "Mijn naam is Daan Bakker en ik bel over mijn contract.", names: ["Daan Bakker"] },
  { language: "nl", text: "Sanne de Jong heeft de offerte goedgekeurd.", names: ["Sanne de Jong"] },
  { language: "nl", text: "Dhr. Mulder is vandaag niet bereikbaar.", names: ["Mulder"] },
  { language: "nl", text: "Stuur het naar Joost Hendriks.", names: ["Joost Hendriks"] },
  { language: "pl", text: "Szanowny Panie Nowak, dziękujemy za wiadomość.", names: ["Nowak"] },
  { language: "pl", text: "Nazywam się Katarzyna Wójcik i mam pytanie.", names: ["Katarzyna Wójcik"] },
  { language: "pl", text: "Piotr Zieliński zatwierdził zamówienie.", names: ["Piotr Zieliński"] },
  {
    language: "pl",
    text: "Proszę przekazać to Oskarowi Lewandowskiemu.",
    names: ["Oskarowi Lewandowskiemu"],
  },
  { language: "pl", text: "Pani Mazur prosi o kontakt.", names: ["Mazur"] },
  { language: "en", text: "Please forward this to Mr. Thompson.", names: ["Thompson"] },
  { language: "en", text: "My name is Sarah Collins.", names: ["Sarah Collins"] },
  { language: "en", text: "Ask Oliver Grant about the budget.", names: ["Oliver Grant"] },
  { language: "en", text: "Paris and Berlin are capitals; Monday Meeting Notes follow.", names: [] },
];

/** Recall and precision of a name detector on the labelled set (a name counts if a detection covers it). */
export function nameScores(detect: (text: string) => string[]): {
  recall: number;
  precision: number;
  found: number;
  total: number;
  falsePositives: number;
} {
  let found = 0;
  let total = 0;
  let falsePositives = 0;
  for (const item of labelledNames) {
    const detected = detect(item.text);
    total += item.names.length;
    for (const name of item.names)
      if (detected.some((value) => value.includes(name) || name.includes(value))) found++;
    for (const value of detected)
      if (!item.names.some((name) => value.includes(name) || name.includes(value))) falsePositives++;
  }
  const detectedTotal = found + falsePositives;
  return {
    recall: found / total,
    precision: detectedTotal === 0 ? 1 : found / detectedTotal,
    found,
    total,
    falsePositives,
  };
}
