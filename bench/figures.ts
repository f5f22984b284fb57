// Builders for the figures a scenario reports, so every scenario computes ratios the same way:
// ratio > 1 always means "better than the baseline" (faster, more per second, fewer bits).

import type { Figure } from './scenario.js';

const LOWER_IS_BETTER_UNITS = new Set(['ns/op', 'us', 'ms', 's', 'bits/number', 'bytes', 'MB']);

export function lowerIsBetter(unit: string): boolean {
  return LOWER_IS_BETTER_UNITS.has(unit);
}

export interface FigureExtras {
  readonly target?: string;
  readonly met?: boolean;
  readonly higherIsBetter?: boolean;
}

/** A figure without a baseline (e.g. the baseline itself, or a size). */
export function plain(name: string, value: number, unit: string, extras: FigureExtras = {}): Figure {
  return { name, value, unit, higherIsBetter: extras.higherIsBetter ?? !lowerIsBetter(unit), ...targetOf(extras) };
}

/** A figure beside its baseline measured in the same run. */
export function versus(
  name: string,
  value: number,
  unit: string,
  baselineName: string,
  baselineValue: number,
  extras: FigureExtras = {},
): Figure {
  const higherIsBetter = extras.higherIsBetter ?? !lowerIsBetter(unit);
  const ratio = higherIsBetter ? value / baselineValue : baselineValue / value;
  return {
    name,
    value,
    unit,
    baseline: { name: baselineName, value: baselineValue },
    ratio,
    higherIsBetter,
    ...targetOf(extras),
  };
}

function targetOf(extras: FigureExtras): Pick<Figure, 'target' | 'met'> {
  if (extras.target === undefined) return {};
  return extras.met === undefined ? { target: extras.target } : { target: extras.target, met: extras.met };
}

/** Throws when a benchmark's own check fails: a wrong answer fast is a failure. */
export function check(condition: boolean, message: string): void {
  if (!condition) throw new Error(`bench check failed: ${message}`);
}
