/**
 * Person names, best effort and without a model: a name is caught when a title, an introduction
 * or a common first name announces it. What is not caught: a bare surname, a name written in
 * lower case, a first name missing from the list below with no title or introduction before it,
 * names in non-Latin scripts. The README reports recall on the labelled corpus.
 */

/** A capitalised word in the Latin scripts of EU languages (ASCII letters and Latin-1 / Latin Extended-A). */
export const capitalised = "[A-ZÀ-ÖØ-ÞĀ-ſ][a-zß-öø-ÿĀ-ſ]+(?:['’][A-ZÀ-ÖØ-ÞĀ-ſ]?[a-zß-öø-ÿĀ-ſ]+)?";

/** Surname particles written in lower case inside a name (`Sanne de Jong`, `Ursula von der Leyen`). */
const particles = "(?:(?:van|von|de|der|den|di|da|del|della|du|le|la|ten|ter|zu) )*";

/** One to three capitalised words (`Jean-Pierre Dupont`, `María García López`), the last part of a match. */
export const fullName = `${capitalised}(?:(?:-| ${particles})${capitalised}){0,2}`;

/** Titles that precede a name in FR, DE, IT, ES, NL, PL and EN. */
export const titles = [
  "M\\.",
  "MM\\.",
  "Mme",
  "Mlle",
  "Monsieur",
  "Madame",
  "Mademoiselle",
  "Maître",
  "Herr",
  "Herrn",
  "Frau",
  "Dr\\.",
  "Prof\\.",
  "Sig\\.(?:ra)?",
  "Signora",
  "Signor",
  "Dott\\.(?:ssa)?",
  "Sr\\.",
  "Sra\\.",
  "Señora",
  "Señor",
  "Don",
  "Doña",
  "Dhr\\.",
  "Mevr\\.",
  "Mevrouw",
  "Meneer",
  "Pan",
  "Pani",
  "Panie",
  "Mr\\.?",
  "Mrs\\.?",
  "Ms\\.?",
  // In running text these are often written in lower case ("la señora Ortega", "mevrouw Visser").
  "monsieur",
  "madame",
  "signora",
  "signor",
  "dott\\.(?:ssa)?",
  "señora",
  "señor",
  "mevrouw",
  "meneer",
  "heer",
  "pan",
  "pani",
  "panie",
  // Professional titles of business letters: Maître (FR), ingegnere and avvocato (IT), magister,
  // engineer and doctor (PL), mevrouw and de heer abbreviated (NL).
  "Me",
  "Ing\\.",
  "Avv\\.",
  "mgr",
  "inż\\.",
  "dr",
  "mw\\.",
  "dhr\\.",
];

/** A second title after the first ("Herr Dr. Weber"), skipped rather than taken for the name. */
export const secondTitle = "(?:(?:Dr|Prof|Dott|Ing|Mag)\\. +)?";

/** Introductions after which a name follows. */
export const introductions = [
  "je m['’]appelle",
  "[Jj]e m['’]appelle",
  "ich heiße",
  "ich heisse",
  "[Ii]ch heiße",
  "[Mm]ein Name ist",
  "[Mm]i chiamo",
  "[Mm]e llamo",
  "[Mm]i nombre es",
  "[Mm]ijn naam is",
  "[Ii]k heet",
  "[Nn]azywam się",
  "[Mm]y name is",
];

/**
 * Common first names across the EU languages Bastion serves. A listed first name followed by a
 * capitalised word is taken as a full name; alone it is not (too many are also ordinary words).
 */
export const firstNames = new Set(
  `Adam Adrian Agnieszka Alain Alberto Alejandro Alessandra Alessandro Alexander Alexandre Alice Amelie Ana Andrea Andreas Andrzej
Angela Anna Anne Antoine Antonio Arnaud Astrid Barbara Bart Beatriz Benedetta Benjamin Bernard Bram Camille Carla Carlos Carmen
Caroline Catherine Cécile Chiara Christian Christine Christophe Claire Claudia Cristina Daan Daniel Daniela David Dennis Diego
Dirk Dominik Dorota Elena Elisa Elisabeth Emma Emilie Enrico Eva Ewa Fabian Federica Federico Felix Fernando Finn Florian
Francesca Francesco François Françoise Frank Franziska Gabriel Giorgio Giovanni Giulia Giuseppe Hannah Hans Helga Hélène Hugo
Ignacio Isabel Isabelle Jakub Jan Javier Jean Jeanne Jens Joanna Johanna Johannes Jonas Jorge José Josef Juan Judith Julia
Julien Jürgen Karin Karl Katarzyna Klaus Krzysztof Lars Laura Laurent Léa Lena Leon Lorenzo Louis Luca Lucas Lucía Luis Lukas
Łukasz Maarten Magdalena Małgorzata Manon Manuel Marc Marco Maria María Marie Mario Marta Martin Martina Mateusz Matteo Mathieu
Max Maximilian Michael Michał Michel Miguel Monika Nathalie Nicolas Niels Nina Noah Olivier Pablo Paola Paolo Pascal Patrick
Paul Paula Pedro Peter Petra Philippe Piet Piotr Pierre Rafael Raquel Riccardo Roberto Robert Sabine Sander Sandra Sara Sarah
Sebastian Sébastien Simone Sofia Sophie Stefan Stefano Stéphane Susanne Sven Thomas Tim Tobias Tomasz Ursula Valentina
Valérie Vincent Wim Wojciech Wolfgang Xavier Yannick Zofia`.split(/\s+/),
);

/**
 * The first word of every title and introduction above, as written (letters only): the scanner
 * runs its expression at a word only when the word could start a match, and these are the words
 * that can start a name match besides the first names.
 */
export const nameTriggerWords =
  `M MM Mme Mlle Monsieur Madame Mademoiselle Maître Herr Herrn Frau Dr Prof Sig Signora Signor Dott
Sr Sra Señora Señor Don Doña Dhr Mevr Mevrouw Meneer Pan Pani Panie Mr Mrs Ms monsieur madame signora signor dott señora
señor mevrouw meneer heer pan pani panie je Je ich Ich mein Mein mi Mi me Me mijn Mijn ik Ik nazywam Nazywam my My
Ing Avv mgr inż dr mw dhr`.split(/\s+/);
