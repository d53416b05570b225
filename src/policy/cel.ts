/**
 * CEL rules (`@marcbachmann/cel-js`, loaded only when a policy has CEL rules): compiled and type
 * checked when the policy is read, evaluated over the policy input object. The top-level variables
 * are the sections of `PolicyInput` (image, bases, sbom, vulnerabilities, secrets, provenance,
 * signature), each a map.
 */
import type { Environment } from '@marcbachmann/cel-js';
import { POLICY_INPUT_VARIABLES, type PolicyInput } from './input.js';

export type CelOutcome = { readonly ok: true; readonly value: boolean } | { readonly ok: false; readonly error: string };

/** A checked expression: evaluates to its boolean, or says why it could not. */
export type CompiledCel = (input: PolicyInput) => CelOutcome;

export type CelCompileResult = { readonly ok: true; readonly program: CompiledCel } | { readonly ok: false; readonly error: string; readonly offset: number };

type CelEnvironment = Environment;

let environment: Promise<CelEnvironment> | undefined;

function celEnvironment(): Promise<CelEnvironment> {
  environment ??= import('@marcbachmann/cel-js').then(({ Environment }) => {
    const env = new Environment({ limits: { maxAstNodes: 2000, maxDepth: 50, maxListElements: 1000, maxMapEntries: 1000, maxCallArguments: 32 } });
    for (const name of POLICY_INPUT_VARIABLES) env.registerVariable(name, 'map');
    return env;
  });
  return environment;
}

/** The first line of a cel-js message (the rest is a caret excerpt of the expression). */
function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0] ?? message;
}

function offsetOf(error: unknown): number {
  if (typeof error === 'object' && error !== null && 'range' in error) {
    const range = (error as { range?: { start?: unknown } }).range;
    if (typeof range?.start === 'number') return range.start;
  }
  return 0;
}

export async function compileCel(expression: string): Promise<CelCompileResult> {
  const env = await celEnvironment();
  let checked;
  try {
    checked = env.check(expression);
  } catch (error) {
    return { ok: false, error: firstLine(error), offset: offsetOf(error) };
  }
  if (!checked.valid) return { ok: false, error: firstLine(checked.error), offset: offsetOf(checked.error) };
  if (checked.type !== 'bool' && checked.type !== 'dyn') return { ok: false, error: `the expression is a ${checked.type}, a rule must be a bool`, offset: 0 };
  const program = env.parse(expression);
  return {
    ok: true,
    program: (input) => {
      try {
        const value: unknown = program({ ...input });
        if (typeof value !== 'boolean') return { ok: false, error: `the expression gave ${typeof value === 'object' ? 'a non-boolean value' : `${typeof value} ${JSON.stringify(value) ?? typeof value}`}, not a bool` };
        return { ok: true, value };
      } catch (error) {
        return { ok: false, error: firstLine(error) };
      }
    },
  };
}
