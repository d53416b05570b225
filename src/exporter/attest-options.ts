/**
 * `--attest`, `--sbom` and `--provenance` with docker buildx's syntax and BuildKit's meanings, checked
 * before the build starts:
 *
 * - `--attest type=sbom|provenance[,disabled=true][,key=value…]` (CSV, repeatable; a later flag of the
 *   same type replaces an earlier one, as buildx's `removeAttestDupes`);
 * - `--sbom=VALUE` / `--provenance=VALUE`: a boolean is `type=T,disabled=!VALUE`, anything else is
 *   `type=T,VALUE` (buildx `CanonicalizeAttest`); they come after the `--attest` flags.
 *
 * Defaults as buildx: with no provenance flag, provenance `mode=min,inline-only=true` (only image
 * outputs carry it, not local/tar files); no SBOM. An explicit provenance without `mode` is BuildKit's
 * default `mode=max`. Unknown types, keys and values are USAGE errors listing the valid choices.
 */
import { StagecraftError } from '../core/index.js';
import { splitFlagFields } from '../util/csv-flags.js';

/** The provenance to make (field names as `ProvenanceOptions` of attest/provenance.ts, plus where it goes). */
export interface ProvenanceRequest {
  readonly mode: 'min' | 'max';
  readonly version: 'v1' | 'v0.2';
  readonly builderId?: string | undefined;
  readonly reproducible?: boolean | undefined;
  /** The file name in `-o type=local|tar` outputs (BuildKit default `provenance.json`). */
  readonly filename?: string | undefined;
  /** Only image outputs (store, registry, oci) carry it; local/tar outputs get no file (buildx's default provenance). */
  readonly inlineOnly?: boolean | undefined;
}

export interface SbomRequest {
  /** A generator image was named; stagecraft always uses its built-in catalogers (a warning says so). */
  readonly generator?: string | undefined;
  /** Scan every built stage (not only the final one): `scan-stage=true` or `BUILDKIT_SBOM_SCAN_STAGE`. */
  readonly scanStage: boolean;
  /** Scan the build context too: `scan-context=true` or `BUILDKIT_SBOM_SCAN_CONTEXT`. */
  readonly scanContext: boolean;
}

/**
 * What attestations a build makes. `BuildOptions.attest` undefined is buildx's default
 * (`DEFAULT_ATTESTATIONS`); an object says exactly what to make (`{}`: none).
 */
export interface AttestationRequest {
  readonly sbom?: SbomRequest | undefined;
  readonly provenance?: ProvenanceRequest | undefined;
}

/** buildx's default: minimal provenance for image outputs, no SBOM. */
export const DEFAULT_ATTESTATIONS: AttestationRequest = Object.freeze({ provenance: Object.freeze({ mode: 'min', version: 'v1', inlineOnly: true }) });

export const ATTESTATION_TYPES = ['sbom', 'provenance'] as const;
const SBOM_KEYS = ['type', 'disabled', 'generator', 'scan-stage', 'scan-context'] as const;
const PROVENANCE_KEYS = ['type', 'disabled', 'mode', 'builder-id', 'version', 'reproducible', 'filename', 'inline-only'] as const;

export interface AttestFlags {
  /** `--attest` values, in order. */
  readonly attest?: readonly string[] | undefined;
  readonly sbom?: string | undefined;
  readonly provenance?: string | undefined;
}

function usage(message: string, hint: string): StagecraftError {
  return new StagecraftError('USAGE', message, { hint });
}

/** Go's strconv.ParseBool, as buildx reads `disabled=` and the `--sbom`/`--provenance` shorthands. */
function goBool(value: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  return undefined;
}

function boolValue(key: string, value: string, flag: string): boolean {
  const parsed = goBool(value);
  if (parsed === undefined) throw usage(`${flag}: invalid value "${value}" for ${key}`, `${key} takes true or false`);
  return parsed;
}

interface ParsedAttest {
  readonly type: (typeof ATTESTATION_TYPES)[number];
  readonly disabled: boolean;
  readonly attrs: ReadonlyMap<string, string>;
  readonly flag: string;
}

/** One `--attest` value. */
function parseOne(raw: string, flag: string): ParsedAttest {
  let type: string | undefined;
  let disabled = false;
  const attrs = new Map<string, string>();
  for (const field of splitFlagFields(raw, flag)) {
    const eq = field.indexOf('=');
    if (eq === -1) throw usage(`${flag} "${raw}": invalid field "${field}"`, 'write key=value fields, e.g. --attest type=sbom or --attest type=provenance,mode=max');
    const key = field.slice(0, eq).trim().toLowerCase();
    const value = field.slice(eq + 1);
    if (key === 'type') type = value;
    else if (key === 'disabled') disabled = boolValue('disabled', value, `${flag} "${raw}"`);
    else attrs.set(key, value);
  }
  if (type === undefined || type === '') throw usage(`${flag} "${raw}": attestation type not specified`, `write type=${ATTESTATION_TYPES.join(' or type=')}`);
  if (!(ATTESTATION_TYPES as readonly string[]).includes(type)) throw usage(`${flag} "${raw}": unknown attestation type "${type}"`, `valid types: ${ATTESTATION_TYPES.join(', ')}`);
  const t = type as ParsedAttest['type'];
  const known: readonly string[] = t === 'sbom' ? SBOM_KEYS : PROVENANCE_KEYS;
  for (const key of attrs.keys()) {
    if (!known.includes(key)) throw usage(`${flag} "${raw}": unknown key "${key}" for type=${t}`, `type=${t} takes ${known.filter((k) => k !== 'type').join(', ')}`);
  }
  return { type: t, disabled, attrs, flag: `${flag} "${raw}"` };
}

function toSbom(parsed: ParsedAttest): SbomRequest {
  const { attrs, flag } = parsed;
  const generator = attrs.get('generator');
  return {
    ...(generator === undefined || generator === '' ? {} : { generator }),
    scanStage: attrs.has('scan-stage') ? boolValue('scan-stage', attrs.get('scan-stage') ?? '', flag) : false,
    scanContext: attrs.has('scan-context') ? boolValue('scan-context', attrs.get('scan-context') ?? '', flag) : false,
  };
}

function toProvenance(parsed: ParsedAttest): ProvenanceRequest {
  const { attrs, flag } = parsed;
  const modeText = attrs.get('mode') ?? 'max';
  // BuildKit also reads `full` as max.
  if (!['min', 'max', 'full'].includes(modeText)) throw usage(`${flag}: invalid provenance mode "${modeText}"`, 'mode is min or max');
  const version = attrs.get('version') ?? 'v1';
  if (version !== 'v1' && version !== 'v0.2') throw usage(`${flag}: unsupported SLSA provenance version "${version}"`, 'version is v1 or v0.2');
  const builderId = attrs.get('builder-id');
  const filename = attrs.get('filename');
  if (filename !== undefined && (filename === '' || filename.includes('/') || filename === '.' || filename === '..')) {
    throw usage(`${flag}: invalid filename "${filename}"`, 'give a plain file name such as provenance.json');
  }
  return {
    mode: modeText === 'min' ? 'min' : 'max',
    version,
    ...(builderId === undefined || builderId === '' ? {} : { builderId }),
    ...(attrs.has('reproducible') ? { reproducible: boolValue('reproducible', attrs.get('reproducible') ?? '', flag) } : {}),
    ...(filename === undefined ? {} : { filename }),
    ...(attrs.has('inline-only') && boolValue('inline-only', attrs.get('inline-only') ?? '', flag) ? { inlineOnly: true } : {}),
  };
}

/** `--sbom=VALUE` / `--provenance=VALUE` as an `--attest` value (buildx CanonicalizeAttest). */
function canonical(type: string, value: string): string {
  const b = goBool(value);
  return b === undefined ? `type=${type},${value}` : `type=${type},disabled=${String(!b)}`;
}

/**
 * The attestations the flags ask for, with buildx's defaults filled in (provenance mode=min unless a
 * provenance flag says otherwise; no SBOM unless asked). `noDefaultProvenance`: BUILDX_NO_DEFAULT_ATTESTATIONS.
 */
export function parseAttestFlags(flags: AttestFlags, noDefaultProvenance = false): AttestationRequest {
  const all: ParsedAttest[] = (flags.attest ?? []).map((raw) => parseOne(raw, '--attest'));
  if (flags.sbom !== undefined && flags.sbom !== '') all.push(parseOne(canonical('sbom', flags.sbom), `--sbom=${flags.sbom}`));
  if (flags.provenance !== undefined && flags.provenance !== '') all.push(parseOne(canonical('provenance', flags.provenance), `--provenance=${flags.provenance}`));
  const last = new Map<string, ParsedAttest>();
  for (const parsed of all) last.set(parsed.type, parsed);
  const sbom = last.get('sbom');
  const provenance = last.get('provenance');
  return {
    ...(sbom === undefined || sbom.disabled ? {} : { sbom: toSbom(sbom) }),
    ...(provenance === undefined ? (noDefaultProvenance ? {} : { provenance: DEFAULT_ATTESTATIONS.provenance }) : provenance.disabled ? {} : { provenance: toProvenance(provenance) }),
  };
}

/** A stage's `BUILDKIT_SBOM_SCAN_STAGE`/`_CONTEXT` value: true/false, or a comma list of stage names (BuildKit isEnabledForStage). */
export function scanEnabledForStage(stageName: string | undefined, value: string | undefined): boolean {
  if (value === undefined) return false;
  const b = goBool(value);
  if (b !== undefined) return b;
  return stageName !== undefined && value.split(',').includes(stageName);
}
