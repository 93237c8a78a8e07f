/**
 * Carbon intensity of electricity generation, in grams CO2-equivalent per kWh, by country.
 *
 * Source: Ember, "Yearly electricity data" (Europe and global datasets), year 2023, column
 * "CO2 intensity" (gCO2e per kWh of generation, lifecycle emissions), https://ember-energy.org/data/,
 * licensed CC BY 4.0. Values are rounded to the gram. Averages: "EU" is the EU-27 figure, "WORLD"
 * the global one. Bastion reads this table only when the config's `metering.gridIntensity` has no
 * override for the country; operators with a green-power contract or a newer year set their own.
 */
export const gridIntensitySource = {
  publisher: "Ember",
  dataset: "Yearly electricity data, CO2 intensity (gCO2e/kWh, lifecycle)",
  year: 2023,
  url: "https://ember-energy.org/data/yearly-electricity-data/",
  licence: "CC-BY-4.0",
} as const;

export const gridIntensityGPerKwh: Readonly<Record<string, number>> = {
  // EU-27
  AT: 109,
  BE: 138,
  BG: 335,
  CY: 610,
  CZ: 415,
  DE: 381,
  DK: 151,
  EE: 416,
  ES: 158,
  FI: 79,
  FR: 56,
  GR: 336,
  HR: 200,
  HU: 204,
  IE: 282,
  IT: 288,
  LT: 160,
  LU: 105,
  LV: 123,
  MT: 391,
  NL: 268,
  PL: 662,
  PT: 165,
  RO: 240,
  SE: 36,
  SI: 232,
  SK: 117,
  // Wider Europe and elsewhere
  CH: 46,
  GB: 238,
  IS: 28,
  NO: 30,
  US: 369,
  CA: 170,
  // Averages
  EU: 244,
  WORLD: 480,
};

/**
 * gCO2e per kWh for a country code (case-insensitive), overrides first, then the table; an unknown
 * country falls back to the world average so that a missing entry never reads as zero emissions.
 */
export function gridIntensity(country: string, overrides: Readonly<Record<string, number>> = {}): number {
  const code = country.toUpperCase();
  return overrides[code] ?? overrides[country] ?? gridIntensityGPerKwh[code] ?? gridIntensityGPerKwh.WORLD!;
}
