import { InvalidArgumentError } from "commander";

/** A commander argument parser for a whole number within bounds, with an error that names the option. */
export function integerOption(name: string, min: number, max: number): (value: string) => number {
  return (value) => {
    if (!/^-?\d+$/.test(value.trim()))
      throw new InvalidArgumentError(`${name} takes a whole number, not "${value}".`);
    const number = Number(value);
    if (number < min || number > max)
      throw new InvalidArgumentError(`${name} must be between ${min} and ${max}.`);
    return number;
  };
}
